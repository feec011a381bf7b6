"""Offline checks of Sluice's deployment artifacts (docker/, k8s/).

No Docker engine or Kubernetes cluster is needed: each checker takes already-parsed artifacts
and returns a list of problems (empty when all is well), so that test_deploy.py can run them on
the real files and on deliberately broken copies (to prove that they catch breakage).
"""

from __future__ import annotations

import fnmatch
import json
import math
import re
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
K8S = REPO / "k8s"

# ------------------------------------------------------------------------------------------
# Small parsers


def load_yaml_docs(path: Path) -> list:
    """Every non-empty document of a YAML file."""
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|s|m|h|d)")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text) -> float:
    """"30s", "250ms", "1m30s" (Sluice and compose durations) -> seconds."""
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip()
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(s):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNIT_SECONDS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"bad duration {text!r}")
    return total


def split_host_port(addr: str) -> tuple[str, int]:
    """"host:port" or "[v6]:port" -> (host, port)."""
    host, sep, port = str(addr).rpartition(":")
    if not sep or not port.isdigit():
        raise ValueError(f"bad address {addr!r} (expected HOST:PORT)")
    return host.strip("[]"), int(port)


def parse_cpu(q) -> float:
    """Kubernetes CPU quantity ("250m", "2", 0.5) -> cores."""
    s = str(q)
    return float(s[:-1]) / 1000 if s.endswith("m") else float(s)


_MEM_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_memory(q) -> float:
    s = str(q)
    for unit, factor in _MEM_UNITS.items():
        if s.endswith(unit):
            return float(s[: -len(unit)]) * factor
    return float(s)


def listener_ports(cfg: dict) -> list[int]:
    return [split_host_port(l["listen"])[1] for l in cfg.get("listener", [])]


# ------------------------------------------------------------------------------------------
# Dockerfiles


@dataclass
class Instruction:
    cmd: str            # upper case: FROM, RUN, COPY ...
    rest: str           # the arguments, continuation lines joined
    line: int


@dataclass
class Stage:
    name: str | None
    base: str
    instructions: list[Instruction] = field(default_factory=list)


def parse_dockerfile(text: str) -> list[Instruction]:
    out: list[Instruction] = []
    buf, start = "", 0
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip()
        stripped = line.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue  # comment lines inside a continued instruction are dropped
        if not buf:
            start = n
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        cmd, _, rest = buf.strip().partition(" ")
        out.append(Instruction(cmd.upper(), rest.strip(), start))
        buf = ""
    if buf:
        cmd, _, rest = buf.strip().partition(" ")
        out.append(Instruction(cmd.upper(), rest.strip(), start))
    return out


def dockerfile_stages(instrs: list[Instruction]) -> list[Stage]:
    stages: list[Stage] = []
    for ins in instrs:
        if ins.cmd == "FROM":
            words = [w for w in ins.rest.split() if not w.startswith("--")]
            name = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            stages.append(Stage(name, words[0]))
        elif stages:
            stages[-1].instructions.append(ins)
    return stages


def _flags_and_words(rest: str) -> tuple[dict, list[str]]:
    flags, words = {}, []
    if rest.startswith("["):
        return flags, json.loads(rest)
    for w in shlex.split(rest):
        if not words and w.startswith("--"):
            k, _, v = w[2:].partition("=")
            flags[k] = v
        else:
            words.append(w)
    return flags, words


def copy_sources(ins: Instruction) -> tuple[dict, list[str], str]:
    """(flags, sources, destination) of a COPY/ADD."""
    flags, words = _flags_and_words(ins.rest)
    return flags, words[:-1], words[-1] if words else ""


def apt_packages(stage: Stage) -> set[str]:
    """Packages named by `apt-get install` in the stage's RUN instructions."""
    pkgs: set[str] = set()
    for ins in stage.instructions:
        if ins.cmd != "RUN":
            continue
        for m in re.finditer(r"apt-get\s+install\s+(.*?)(?:&&|;|\|\||$)", ins.rest):
            pkgs.update(w for w in m.group(1).split() if not w.startswith("-") and "=" not in w)
    return pkgs


def dockerignore_patterns(text: str) -> list[tuple[bool, str]]:
    """[(is_exception, pattern)] in file order."""
    pats = []
    for raw in text.splitlines():
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        neg = s.startswith("!")
        s = s[1:].strip() if neg else s
        s = s.strip("/")
        if s:
            pats.append((neg, s))
    return pats


def dockerignore_excludes(patterns: list[tuple[bool, str]], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent directories wins."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for neg, pat in patterns:
        rx = fnmatch.translate(pat).replace(".*", "[^/]*").replace("[^/]*[^/]*", ".*")
        if any(re.fullmatch(rx, c) for c in candidates):
            excluded = not neg
    return excluded


@dataclass
class DockerfileSpec:
    """What one image must provide."""
    path: Path
    binaries: list[str]                     # built targets copied to the runtime stage
    expose: set[int]
    healthcheck_needs: list[str]            # substrings of the HEALTHCHECK command (or its env)


def install_deps_packages(repo: Path = REPO) -> list[str]:
    text = (repo / "scripts" / "install-deps.sh").read_text()
    m = re.search(r"packages=\((.*?)\)", text, re.S)
    return m.group(1).split() if m else []


# Packages of install-deps.sh that only the tests and benchmarks need.
TEST_ONLY_PACKAGES = {"libgtest-dev", "redis-server", "wrk", "python3-websockets", "python3-yaml", "curl",
                      "openssl", "ccache", "mold", "yamllint", "clang-14", "libclang-rt-14-dev"}
TOOLCHAIN = {"g++", "cmake", "ninja-build", "pkgconf"}


def build_packages_required(repo: Path = REPO) -> set[str]:
    return {p for p in install_deps_packages(repo) if p not in TEST_ONLY_PACKAGES}


def check_dockerfile(spec: DockerfileSpec, text: str, ignore_text: str | None, repo: Path = REPO) -> list[str]:
    probs: list[str] = []
    name = spec.path.name
    instrs = parse_dockerfile(text)
    stages = dockerfile_stages(instrs)
    if len(stages) < 2:
        return [f"{name}: expected a multi-stage build (build + runtime), found {len(stages)} stage(s)"]
    build, final = stages[0], stages[-1]
    if not re.fullmatch(r"debian:(12|bookworm)", build.base):
        probs.append(f"{name}: build stage should be FROM debian:12, is {build.base}")
    if not re.fullmatch(r"debian:(12|bookworm)-slim", final.base):
        probs.append(f"{name}: runtime stage should be FROM debian:12-slim, is {final.base}")

    # packages: the build stage has everything install-deps.sh builds with; the runtime no -dev
    need = build_packages_required(repo)
    missing = need - apt_packages(build)
    if missing:
        probs.append(f"{name}: build stage does not install {sorted(missing)} (from scripts/install-deps.sh)")
    bad_rt = {p for p in apt_packages(final) if p.endswith("-dev") or p in TOOLCHAIN}
    if bad_rt:
        probs.append(f"{name}: runtime stage installs build-only packages {sorted(bad_rt)}")

    # COPY sources exist in the build context (the repository root) and pass .dockerignore
    ignore = dockerignore_patterns(ignore_text) if ignore_text is not None else []
    stage_names = {s.name for s in stages if s.name}
    built: set[str] = set()
    for st in stages:
        for ins in st.instructions:
            if ins.cmd not in ("COPY", "ADD"):
                continue
            flags, srcs, dest = copy_sources(ins)
            if not srcs or not dest:
                probs.append(f"{name}:{ins.line}: {ins.cmd} needs a source and a destination")
                continue
            if "from" in flags:
                if flags["from"] not in stage_names:
                    probs.append(f"{name}:{ins.line}: COPY --from={flags['from']} names no stage")
                for s in srcs:
                    built.add(Path(s).name)
                continue
            for src in srcs:
                matches = sorted(repo.glob(src.rstrip("/"))) if any(c in src for c in "*?[") else \
                    ([repo / src] if (repo / src).exists() else [])
                if not matches:
                    probs.append(f"{name}:{ins.line}: COPY source {src} does not exist in the repository")
                    continue
                for m in matches:
                    files = [m] if m.is_file() else [f for f in m.rglob("*") if f.is_file()]
                    for f in files:
                        rel = f.relative_to(repo).as_posix()
                        if dockerignore_excludes(ignore, rel):
                            probs.append(f"{name}:{ins.line}: COPY source {rel} is excluded by the dockerignore file")
                            break
    for b in spec.binaries:
        if b not in built:
            probs.append(f"{name}: the runtime stage does not copy the built binary {b}")

    # runtime stage: non-root user, health check, entry point, ports
    def last(cmd):
        found = [i for i in final.instructions if i.cmd == cmd]
        return found[-1] if found else None

    user = last("USER")
    if user is None:
        probs.append(f"{name}: runtime stage has no USER (it would run as root)")
    else:
        uid = user.rest.split(":")[0]
        if uid in ("root", "0"):
            probs.append(f"{name}: runtime stage runs as root (USER {user.rest})")
        elif not uid.isdigit():
            probs.append(f"{name}: USER {user.rest}: use a numeric uid so that runAsNonRoot can verify it")
    hc = last("HEALTHCHECK")
    if hc is None or hc.rest.strip().upper() == "NONE" or "CMD" not in hc.rest:
        probs.append(f"{name}: runtime stage has no HEALTHCHECK CMD")
    else:
        env_text = " ".join(i.rest for i in final.instructions if i.cmd == "ENV")
        for needle in spec.healthcheck_needs:
            if needle not in hc.rest and needle not in env_text:
                probs.append(f"{name}: HEALTHCHECK does not check {needle}")
    if last("ENTRYPOINT") is None and last("CMD") is None:
        probs.append(f"{name}: runtime stage has neither ENTRYPOINT nor CMD")
    exposed = {int(p.split("/")[0]) for i in final.instructions if i.cmd == "EXPOSE" for p in i.rest.split()}
    if not spec.expose <= exposed:
        probs.append(f"{name}: EXPOSE {sorted(exposed)} lacks {sorted(spec.expose - exposed)}")
    return probs


def dockerfile_copy_destinations(text: str) -> set[str]:
    """Absolute paths the final stage installs files at (for commands that name them)."""
    stages = dockerfile_stages(parse_dockerfile(text))
    out = set()
    for ins in stages[-1].instructions:
        if ins.cmd in ("COPY", "ADD"):
            _, srcs, dest = copy_sources(ins)
            if dest.endswith("/"):
                out.update(dest + Path(s).name for s in srcs)
            else:
                out.add(dest)
    return out


def cmake_subdirectories(repo: Path = REPO) -> set[str]:
    """Directories the root CMakeLists.txt needs for a build without tests."""
    text = (repo / "CMakeLists.txt").read_text()
    # Tests and fuzz targets are not part of an image build.
    text = re.sub(r"if\s*\(\s*SLUICE_(?:BUILD_TESTS|FUZZ)\s*\).*?endif\s*\(\s*\)", "", text, flags=re.S)
    dirs = set(re.findall(r"add_subdirectory\(\s*([\w./-]+)", text))
    dirs |= {p.split("/")[0] for p in re.findall(r"include\(\s*([\w./-]+\.cmake)", text)}
    dirs |= {p.split("/")[0] for p in re.findall(r"\b((?:proxy|backends|cmake|third_party)/[\w./-]+)", text)}
    return dirs


# ------------------------------------------------------------------------------------------
# Kubernetes manifests

EXPECTED_API = {
    "Namespace": "v1", "ConfigMap": "v1", "Service": "v1", "Deployment": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
    "PodMonitor": "monitoring.coreos.com/v1",
}
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
PROBES = ("readinessProbe", "livenessProbe", "startupProbe")


def _labels_match(selector: dict, labels: dict) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def pod_spec(dep: dict) -> dict:
    return ((dep.get("spec") or {}).get("template") or {}).get("spec") or {}


def pod_labels(dep: dict) -> dict:
    return (((dep.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def container_port(containers: list, ref) -> int | None:
    """A probe/Service port reference (number or name) -> the container port number."""
    for c in containers:
        for p in c.get("ports") or []:
            if isinstance(ref, int) and p.get("containerPort") == ref:
                return ref
            if isinstance(ref, str) and p.get("name") == ref:
                return p.get("containerPort")
    return None


def effective_security(pod: dict, c: dict) -> dict:
    merged = dict(pod.get("securityContext") or {})
    merged.pop("fsGroup", None)
    merged.update(c.get("securityContext") or {})
    return merged


def check_container(where: str, pod: dict, c: dict) -> list[str]:
    probs = []
    cname = c.get("name")
    if not cname or not DNS1123_LABEL.fullmatch(str(cname)):
        probs.append(f"{where}: a container has no valid name ({cname!r})")
    where = f"{where} container {cname}"
    if not c.get("image"):
        probs.append(f"{where}: no image")
    seen = set()
    for p in c.get("ports") or []:
        cp = p.get("containerPort")
        if not isinstance(cp, int) or not 1 <= cp <= 65535:
            probs.append(f"{where}: bad containerPort {cp!r}")
        if "name" in p:
            if len(p["name"]) > 15 or not DNS1123_LABEL.fullmatch(p["name"]) or p["name"] in seen:
                probs.append(f"{where}: bad or duplicate port name {p['name']!r}")
            seen.add(p["name"])
    for probe in PROBES:
        pr = c.get(probe)
        if pr is None:
            continue
        handlers = [h for h in ("httpGet", "tcpSocket", "exec", "grpc") if h in pr]
        if len(handlers) != 1:
            probs.append(f"{where}: {probe} needs exactly one handler, has {handlers}")
            continue
        h = pr[handlers[0]]
        if handlers[0] in ("httpGet", "tcpSocket") and container_port([c], h.get("port")) is None:
            probs.append(f"{where}: {probe} port {h.get('port')!r} is not a port of the container")
        if handlers[0] == "httpGet" and not str(h.get("path", "")).startswith("/"):
            probs.append(f"{where}: {probe} httpGet needs a path")
    res = c.get("resources") or {}
    for kind in ("requests", "limits"):
        for r in ("cpu", "memory"):
            if r not in (res.get(kind) or {}):
                probs.append(f"{where}: no resources.{kind}.{r}")
    try:
        if parse_cpu(res["requests"]["cpu"]) > parse_cpu(res["limits"]["cpu"]) or \
                parse_memory(res["requests"]["memory"]) > parse_memory(res["limits"]["memory"]):
            probs.append(f"{where}: resource requests exceed limits")
    except (KeyError, TypeError, ValueError):
        pass
    sc = effective_security(pod, c)
    if sc.get("runAsNonRoot") is not True:
        probs.append(f"{where}: securityContext.runAsNonRoot is not true")
    if sc.get("runAsUser") == 0:
        probs.append(f"{where}: securityContext.runAsUser is 0 (root)")
    if sc.get("allowPrivilegeEscalation") is not False:
        probs.append(f"{where}: securityContext.allowPrivilegeEscalation is not false")
    if sc.get("readOnlyRootFilesystem") is not True:
        probs.append(f"{where}: securityContext.readOnlyRootFilesystem is not true")
    if sc.get("privileged"):
        probs.append(f"{where}: privileged")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        probs.append(f"{where}: securityContext.capabilities.drop does not include ALL")
    env_names = {e.get("name") for e in c.get("env") or []}
    for word in (c.get("command") or []) + (c.get("args") or []):
        for var in re.findall(r"\$\((\w+)\)", str(word)):
            if var not in env_names:
                probs.append(f"{where}: $({var}) is not defined in env")
    volumes = {v.get("name") for v in pod.get("volumes") or []}
    for vm in c.get("volumeMounts") or []:
        if vm.get("name") not in volumes:
            probs.append(f"{where}: volumeMount {vm.get('name')!r} names no volume")
    return probs


def check_manifests(docs: list[dict], namespace: str | None = None) -> list[str]:
    """Kind-by-kind required fields and cross references of a set of manifests."""
    probs: list[str] = []
    by_kind: dict[str, dict[str, dict]] = {}
    for d in docs:
        if not isinstance(d, dict):
            probs.append(f"a document is not a mapping: {d!r:.60}")
            continue
        kind, api = d.get("kind"), d.get("apiVersion")
        name = (d.get("metadata") or {}).get("name")
        if not kind or not api or not name:
            probs.append(f"{kind or '?'} {name or '?'}: apiVersion, kind and metadata.name are required")
            continue
        if not DNS1123_SUBDOMAIN.fullmatch(name):
            probs.append(f"{kind} {name}: metadata.name is not a DNS-1123 name")
        if kind in EXPECTED_API and api != EXPECTED_API[kind]:
            probs.append(f"{kind} {name}: apiVersion {api}, expected {EXPECTED_API[kind]}")
        ns = (d.get("metadata") or {}).get("namespace")
        if namespace and kind != "Namespace" and ns != namespace:
            probs.append(f"{kind} {name}: metadata.namespace is {ns!r}, expected {namespace!r}")
        if name in by_kind.setdefault(kind, {}):
            probs.append(f"{kind} {name}: defined twice")
        by_kind[kind][name] = d

    deps = by_kind.get("Deployment", {})
    cms = by_kind.get("ConfigMap", {})
    hpas = by_kind.get("HorizontalPodAutoscaler", {})
    for name, dep in deps.items():
        where = f"Deployment {name}"
        spec = dep.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        if not sel:
            probs.append(f"{where}: spec.selector.matchLabels is required")
        elif not _labels_match(sel, pod_labels(dep)):
            probs.append(f"{where}: spec.selector {sel} does not match the template labels {pod_labels(dep)}")
        pod = pod_spec(dep)
        containers = pod.get("containers") or []
        if not containers:
            probs.append(f"{where}: no containers")
        names = [c.get("name") for c in containers]
        if len(names) != len(set(names)):
            probs.append(f"{where}: duplicate container names")
        for c in containers:
            probs += check_container(where, pod, c)
        for v in pod.get("volumes") or []:
            cm = (v.get("configMap") or {}).get("name")
            if cm and cm not in cms:
                probs.append(f"{where}: volume {v.get('name')} uses ConfigMap {cm}, which is not defined")
        if any(h["spec"].get("scaleTargetRef", {}).get("name") == name for h in hpas.values()) \
                and "replicas" in spec:
            probs.append(f"{where}: has spec.replicas although an HPA scales it (every apply would reset it)")

    def selected(selector: dict) -> list[dict]:
        return [d for d in deps.values() if _labels_match(selector, pod_labels(d))]

    for name, svc in by_kind.get("Service", {}).items():
        where = f"Service {name}"
        spec = svc.get("spec") or {}
        ports = spec.get("ports") or []
        if not ports:
            probs.append(f"{where}: spec.ports is required")
        sel = spec.get("selector") or {}
        targets = selected(sel)
        if not sel or not targets:
            probs.append(f"{where}: selector {sel} matches no Deployment's pods")
        for p in ports:
            if not isinstance(p.get("port"), int):
                probs.append(f"{where}: a port has no numeric port")
                continue
            if len(ports) > 1 and not p.get("name"):
                probs.append(f"{where}: ports need names when there are several")
            tp = p.get("targetPort", p["port"])
            for d in targets:
                if container_port(pod_spec(d).get("containers") or [], tp) is None:
                    probs.append(f"{where}: targetPort {tp!r} is not a container port of "
                                 f"Deployment {d['metadata']['name']}")

    for name, hpa in hpas.items():
        where = f"HorizontalPodAutoscaler {name}"
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        target = deps.get(ref.get("name")) if ref.get("kind") == "Deployment" else None
        if target is None:
            probs.append(f"{where}: scaleTargetRef {ref} names no Deployment here")
        mn, mx = spec.get("minReplicas", 1), spec.get("maxReplicas")
        if not isinstance(mx, int) or not isinstance(mn, int) or not 1 <= mn <= mx:
            probs.append(f"{where}: needs 1 <= minReplicas <= maxReplicas, has {mn}..{mx}")
        metrics = spec.get("metrics") or []
        if not metrics:
            probs.append(f"{where}: no metrics")
        for m in metrics:
            res = (m.get("resource") or {})
            if m.get("type") == "Resource" and res.get("name") == "cpu" and target is not None:
                for c in pod_spec(target).get("containers") or []:
                    if "cpu" not in ((c.get("resources") or {}).get("requests") or {}):
                        probs.append(f"{where}: CPU utilization needs a CPU request on container {c.get('name')}")

    for name, pdb in by_kind.get("PodDisruptionBudget", {}).items():
        where = f"PodDisruptionBudget {name}"
        spec = pdb.get("spec") or {}
        sel = (spec.get("selector") or {}).get("matchLabels") or {}
        targets = selected(sel)
        if not targets:
            probs.append(f"{where}: selector {sel} matches no Deployment's pods")
        if ("minAvailable" in spec) == ("maxUnavailable" in spec):
            probs.append(f"{where}: set exactly one of minAvailable and maxUnavailable")
        ma = spec.get("minAvailable")
        if isinstance(ma, int):
            for d in targets:
                dn = d["metadata"]["name"]
                floor = [h["spec"].get("minReplicas", 1) for h in hpas.values()
                         if h["spec"].get("scaleTargetRef", {}).get("name") == dn]
                replicas = floor[0] if floor else (d.get("spec") or {}).get("replicas", 1)
                if ma >= replicas:
                    probs.append(f"{where}: minAvailable {ma} >= {replicas} replicas of {dn}: "
                                 "no pod could ever be evicted (node drains would hang)")

    for name, pm in by_kind.get("PodMonitor", {}).items():
        where = f"PodMonitor {name}"
        sel = ((pm.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
        targets = selected(sel)
        if not targets:
            probs.append(f"{where}: selector {sel} matches no Deployment's pods")
        for ep in (pm.get("spec") or {}).get("podMetricsEndpoints") or []:
            for d in targets:
                if container_port(pod_spec(d).get("containers") or [], ep.get("port")) is None:
                    probs.append(f"{where}: port {ep.get('port')!r} is not a container port")
    return probs


def prestop_sleep_seconds(c: dict) -> float:
    pre = ((c.get("lifecycle") or {}).get("preStop")) or {}
    if "sleep" in pre:
        return float(pre["sleep"].get("seconds", 0))
    cmd = " ".join(str(w) for w in ((pre.get("exec") or {}).get("command") or []))
    m = re.search(r"sleep\s+(\d+(?:\.\d+)?)", cmd)
    return float(m.group(1)) if m else 0.0


def _arg_after(words: list, flag: str) -> str | None:
    for i, w in enumerate(words):
        if w == flag and i + 1 < len(words):
            return words[i + 1]
        if str(w).startswith(flag + "="):
            return str(w).split("=", 1)[1]
    return None


@dataclass
class SluicePod:
    """What check_sluice_deployment found, for the cross checks that follow it."""
    config: dict | None = None
    config_text: str | None = None


def find(docs: list[dict], kind: str, name: str) -> dict | None:
    for d in docs:
        if d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name:
            return d
    return None


def check_sluice_deployment(docs: list[dict], repo_conf: dict | None, found: SluicePod | None = None) -> list[str]:
    """The proxy's Deployment against its ConfigMap's sluice.toml, its Service and conf/."""
    probs: list[str] = []
    dep = find(docs, "Deployment", "sluice")
    if dep is None:
        return ["no Deployment named sluice"]
    pod = pod_spec(dep)
    containers = pod.get("containers") or []
    c = next((x for x in containers if x.get("name") == "sluice"), None)
    if c is None:
        return ["Deployment sluice: no container named sluice"]

    # the config file: -c PATH inside a directory mount of a ConfigMap volume
    words = (c.get("command") or []) + (c.get("args") or [])
    path = _arg_after(words, "-c") or _arg_after(words, "--config")
    if not path:
        return ["Deployment sluice: container sluice has no -c CONFIG argument"]
    mount = next((m for m in c.get("volumeMounts") or [] if path.startswith(m["mountPath"].rstrip("/") + "/")), None)
    if mount is None:
        return [f"Deployment sluice: config {path} is not under any volumeMount"]
    if mount.get("subPath"):
        probs.append("Deployment sluice: the config volume is mounted with subPath: ConfigMap updates never reach it")
    vol = next((v for v in pod.get("volumes") or [] if v.get("name") == mount["name"]), {})
    cm_name = (vol.get("configMap") or {}).get("name")
    cm = find(docs, "ConfigMap", cm_name) if cm_name else None
    key = path[len(mount["mountPath"].rstrip("/")) + 1:]
    if cm is None or key not in (cm.get("data") or {}):
        return probs + [f"Deployment sluice: {path} is not a key of a ConfigMap mounted at {mount['mountPath']}"]
    text = cm["data"][key]
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        return probs + [f"ConfigMap {cm_name}: {key} is not valid TOML: {e}"]
    if found is not None:
        found.config, found.config_text = cfg, text

    # ports: admin listener <-> probes and scrape annotation; listeners <-> container ports and Service
    try:
        admin_port = split_host_port(cfg["admin"]["listen"])[1]
        if not cfg["admin"]["listen"].startswith(("0.0.0.0:", "[::]:")):
            probs.append(f"ConfigMap {cm_name}: [admin] listen must bind all interfaces for the kubelet's probes")
    except (KeyError, ValueError):
        return probs + [f"ConfigMap {cm_name}: no [admin] listen address"]
    ports = listener_ports(cfg)
    if not ports:
        probs.append(f"ConfigMap {cm_name}: no [[listener]]")
    cports = {p.get("containerPort") for p in c.get("ports") or []}
    if admin_port not in cports:
        probs.append(f"Deployment sluice: admin port {admin_port} is not a container port ({sorted(cports)})")
    for lp in ports:
        if lp not in cports:
            probs.append(f"Deployment sluice: listener port {lp} is not a container port ({sorted(cports)})")
    if repo_conf is not None and listener_ports(repo_conf) and ports and \
            listener_ports(repo_conf)[0] != ports[0]:
        probs.append(f"ConfigMap {cm_name}: listener port {ports[0]} differs from conf/sluice.toml's "
                     f"{listener_ports(repo_conf)[0]}")
    for probe, want in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        h = ((c.get(probe) or {}).get("httpGet")) or {}
        if h.get("path") != want:
            probs.append(f"Deployment sluice: {probe} must GET {want}, has {h.get('path')!r}")
        if container_port(containers, h.get("port")) != admin_port:
            probs.append(f"Deployment sluice: {probe} port {h.get('port')!r} is not the admin port {admin_port}")
    ann = ((dep["spec"].get("template") or {}).get("metadata") or {}).get("annotations") or {}
    if "prometheus.io/port" in ann and str(ann["prometheus.io/port"]) != str(admin_port):
        probs.append(f"Deployment sluice: prometheus.io/port {ann['prometheus.io/port']} is not the admin port")
    svc = find(docs, "Service", "sluice")
    if svc is None:
        probs.append("no Service named sluice")
    else:
        for p in svc["spec"].get("ports") or []:
            tp = container_port(containers, p.get("targetPort", p.get("port")))
            if tp not in ports:
                probs.append(f"Service sluice: port {p.get('port')} goes to {tp}, not a sluice listener {ports}")
            if tp == admin_port:
                probs.append("Service sluice: exposes the admin port")

    # termination: preStop, then drain_timeout, all inside the grace period
    drain = parse_duration(cfg.get("server", {}).get("drain_timeout", "30s"))
    pre = prestop_sleep_seconds(c)
    if pre <= 0:
        probs.append("Deployment sluice: container sluice needs a preStop sleep (endpoints deregister first)")
    grace = pod.get("terminationGracePeriodSeconds", 30)
    if not grace > pre + drain:
        probs.append(f"Deployment sluice: terminationGracePeriodSeconds {grace} must exceed preStop {pre:g}s + "
                     f"drain_timeout {drain:g}s")

    # workers vs the CPU limit: 0 would count the node's cores, not the container's
    workers = cfg.get("server", {}).get("workers", 0)
    cpu_limit = ((c.get("resources") or {}).get("limits") or {}).get("cpu")
    if cpu_limit is not None:
        cap = max(1, math.ceil(parse_cpu(cpu_limit)))
        if not 1 <= workers <= cap:
            probs.append(f"ConfigMap {cm_name}: [server] workers = {workers}; with a CPU limit of {cpu_limit} "
                         f"use 1..{cap}")

    # the reload sidecar: sees sluice's process, watches the same file, same uid
    reloaders = [x for x in containers if any("sluice-reload" in str(w) for w in (x.get("command") or []))]
    if not reloaders:
        probs.append("Deployment sluice: no config-reloader container (command sluice-reload)")
    for r in reloaders:
        if pod.get("shareProcessNamespace") is not True:
            probs.append("Deployment sluice: the reload sidecar needs shareProcessNamespace: true")
        env = {e["name"]: e.get("value") for e in r.get("env") or []}
        if env.get("SLUICE_CONFIG", "/etc/sluice/sluice.toml") != path:
            probs.append(f"Deployment sluice: reloader watches {env.get('SLUICE_CONFIG')}, sluice reads {path}")
        if not any(m["name"] == mount["name"] and m["mountPath"] == mount["mountPath"] and not m.get("subPath")
                   for m in r.get("volumeMounts") or []):
            probs.append("Deployment sluice: the reloader does not mount the config volume where sluice does")
        u1, u2 = effective_security(pod, c).get("runAsUser"), effective_security(pod, r).get("runAsUser")
        if u1 is None or u1 != u2:
            probs.append(f"Deployment sluice: reloader uid {u2} must equal sluice's {u1} to signal it")

    # upstream and Redis addresses name Services of this stack, on their ports
    services = {(d.get("metadata") or {}).get("name"): d for d in docs if d.get("kind") == "Service"}
    addrs = [(f"upstream {u.get('name')}", s.get("address")) for u in cfg.get("upstream", [])
             for s in u.get("servers", [])]
    addrs += [("[redis]", a) for a in cfg.get("redis", {}).get("servers", [])]
    for who, addr in addrs:
        try:
            host, port = split_host_port(addr)
        except ValueError as e:
            probs.append(f"ConfigMap {cm_name}: {who}: {e}")
            continue
        svc = services.get(host.split(".")[0])
        if svc is None:
            probs.append(f"ConfigMap {cm_name}: {who} address {addr}: no Service named {host}")
        elif port not in [p.get("port") for p in svc["spec"].get("ports") or []]:
            probs.append(f"ConfigMap {cm_name}: {who} address {addr}: Service {host} has no port {port}")
    return probs


def check_kustomization(kdir: Path, kust: dict) -> list[str]:
    probs = []
    listed = kust.get("resources") or []
    for r in listed:
        if not (kdir / r).exists():
            probs.append(f"{kdir.name}/kustomization.yaml: resource {r} does not exist")
    here = {p.name for p in kdir.glob("*.yaml") if p.name != "kustomization.yaml"} | \
           {p.name for p in kdir.glob("*.yml")}
    for f in sorted(here - set(listed)):
        probs.append(f"{kdir.name}/kustomization.yaml: {f} is not listed in resources")
    images_used = set()
    for r in listed:
        if (kdir / r).is_file():
            for d in load_yaml_docs(kdir / r):
                for c in pod_spec(d).get("containers") or []:
                    images_used.add(str(c.get("image", "")).rsplit(":", 1)[0])
    for img in kust.get("images") or []:
        if img.get("name") not in images_used:
            probs.append(f"{kdir.name}/kustomization.yaml: images entry {img.get('name')} is used by no container")
    return probs


# ------------------------------------------------------------------------------------------
# Compose stack


def compose_command_listen_port(svc: dict) -> int | None:
    cmd = svc.get("command") or []
    if isinstance(cmd, str):
        cmd = shlex.split(cmd)
    a = _arg_after(cmd, "--listen")
    if a:
        return split_host_port(a)[1]
    if any("redis-server" in str(w) for w in cmd) or "redis" in str(svc.get("image", "")):
        p = _arg_after(cmd, "--port")
        return int(p) if p else 6379
    return None


def _published(svc: dict) -> dict[int, str]:
    """container port -> "HOST_IP:HOST_PORT" (or "HOST_PORT") of short-syntax port entries."""
    out = {}
    for p in svc.get("ports") or []:
        parts = str(p).split(":")
        out[int(parts[-1].split("/")[0])] = ":".join(parts[:-1])
    return out


def _bind_mounts(svc: dict) -> list[tuple[str, str]]:
    out = []
    for v in svc.get("volumes") or []:
        if isinstance(v, str):
            parts = v.split(":")
            if parts[0].startswith((".", "/")):
                out.append((parts[0], parts[1]))
        elif isinstance(v, dict) and v.get("type") == "bind":
            out.append((v["source"], v["target"]))
    return out


def check_compose(compose: dict, compose_dir: Path, prometheus: dict, repo_conf: dict | None,
                  datasources: dict | None = None, dash_providers: dict | None = None) -> list[str]:
    probs: list[str] = []
    services = compose.get("services") or {}
    if not services:
        return ["compose: no services"]
    for name, svc in services.items():
        if not svc.get("image") and not svc.get("build"):
            probs.append(f"compose {name}: needs an image or a build")
        b = svc.get("build")
        if b:
            ctx = compose_dir / (b.get("context", ".") if isinstance(b, dict) else b)
            df = ctx / (b.get("dockerfile", "Dockerfile") if isinstance(b, dict) else "Dockerfile")
            if not ctx.is_dir():
                probs.append(f"compose {name}: build context {ctx} is not a directory")
            if not df.is_file():
                probs.append(f"compose {name}: Dockerfile {df} does not exist")
        for src, _ in _bind_mounts(svc):
            if not (compose_dir / src).exists():
                probs.append(f"compose {name}: bind-mount source {src} does not exist")
        deps = svc.get("depends_on") or []
        for d in deps:
            if d not in services:
                probs.append(f"compose {name}: depends_on {d}, which is not a service")
        env = svc.get("environment") or {}
        if isinstance(env, dict) and "HEALTHCHECK_ADDR" in env:
            lp = compose_command_listen_port(svc)
            if lp is not None and split_host_port(env["HEALTHCHECK_ADDR"])[1] != lp:
                probs.append(f"compose {name}: HEALTHCHECK_ADDR {env['HEALTHCHECK_ADDR']} is not its --listen port {lp}")

    sl = services.get("sluice")
    if sl is None:
        return probs + ["compose: no sluice service"]
    cmd = sl.get("command") or []
    path = _arg_after(cmd, "-c") or "/etc/sluice/sluice.toml"
    host_file = None
    for src, target in _bind_mounts(sl):
        target = target.rstrip("/")
        if path == target:
            host_file = compose_dir / src
        elif path.startswith(target + "/"):
            host_file = compose_dir / src / path[len(target) + 1:]
    if host_file is None or not host_file.is_file():
        return probs + [f"compose sluice: {path} is not bind-mounted from a file in the repository"]
    try:
        cfg = tomllib.loads(host_file.read_text())
    except tomllib.TOMLDecodeError as e:
        return probs + [f"{host_file.name}: not valid TOML: {e}"]
    admin_port = split_host_port(cfg.get("admin", {}).get("listen", "127.0.0.1:9901"))[1]
    if not cfg.get("admin", {}).get("listen", "").startswith(("0.0.0.0:", "[::]:")):
        probs.append("compose sluice.toml: [admin] listen must bind 0.0.0.0 so that Prometheus can scrape it")
    pub = _published(sl)
    for lp in listener_ports(cfg):
        if lp not in pub:
            probs.append(f"compose sluice: listener port {lp} is not published ({sorted(pub)})")
    if repo_conf is not None and listener_ports(repo_conf) and listener_ports(cfg) and \
            listener_ports(repo_conf)[0] != listener_ports(cfg)[0]:
        probs.append("compose sluice.toml: listener port differs from conf/sluice.toml's")
    drain = parse_duration(cfg.get("server", {}).get("drain_timeout", "30s"))
    grace = parse_duration(sl.get("stop_grace_period", "10s"))
    if not grace > drain:
        probs.append(f"compose sluice: stop_grace_period {grace:g}s must exceed drain_timeout {drain:g}s")
    addrs = [(f"upstream {u.get('name')}", s.get("address")) for u in cfg.get("upstream", [])
             for s in u.get("servers", [])]
    addrs += [("[redis]", a) for a in cfg.get("redis", {}).get("servers", [])]
    for who, addr in addrs:
        host, port = split_host_port(addr)
        if host not in services:
            probs.append(f"compose sluice.toml: {who} address {addr}: no service named {host}")
            continue
        lp = compose_command_listen_port(services[host])
        if lp != port:
            probs.append(f"compose sluice.toml: {who} address {addr}: service {host} listens on {lp}")
        if host not in (sl.get("depends_on") or []):
            probs.append(f"compose sluice: should depend on {host}")

    # Prometheus scrapes the admin listener of the sluice service
    jobs = (prometheus or {}).get("scrape_configs") or []
    targets = [t for j in jobs for sc in j.get("static_configs") or [] for t in sc.get("targets") or []]
    if f"sluice:{admin_port}" not in targets:
        probs.append(f"prometheus.yml: no scrape target sluice:{admin_port} (has {targets})")
    for j in jobs:
        if j.get("metrics_path", "/metrics") != "/metrics":
            probs.append(f"prometheus.yml: job {j.get('job_name')} scrapes {j.get('metrics_path')}, not /metrics")
    prom = services.get("prometheus")
    if prom is not None and not any(t.endswith("/prometheus.yml") for _, t in _bind_mounts(prom)):
        probs.append("compose prometheus: prometheus.yml is not mounted")

    graf = services.get("grafana")
    if graf is not None:
        mounts = {t.rstrip("/"): s for s, t in _bind_mounts(graf)}
        if "/etc/grafana/provisioning" not in mounts:
            probs.append("compose grafana: provisioning directory is not mounted")
        for ds in (datasources or {}).get("datasources") or []:
            m = re.match(r"https?://([\w.-]+):(\d+)", ds.get("url", ""))
            if not m or m.group(1) not in services:
                probs.append(f"grafana datasource {ds.get('name')}: url {ds.get('url')} names no compose service")
            elif m.group(1) == "prometheus" and m.group(2) != "9090":
                probs.append(f"grafana datasource: Prometheus listens on 9090, url says {m.group(2)}")
        for prov in (dash_providers or {}).get("providers") or []:
            p = ((prov.get("options") or {}).get("path") or "").rstrip("/")
            if p not in mounts:
                probs.append(f"grafana dashboard provider path {p} is not a mounted directory")
            elif not list((compose_dir / mounts[p]).glob("*.json")):
                probs.append(f"grafana dashboards directory {mounts[p]} holds no JSON dashboard")
    return probs


# ------------------------------------------------------------------------------------------
# Grafana dashboard and PromQL

# The contract's metrics (DESIGN.md) and their labels; a histogram is queried by its series.
METRICS = {
    "sluice_requests_total": {"route", "code"},
    "sluice_request_duration_seconds_bucket": {"route", "le"},
    "sluice_request_duration_seconds_sum": {"route"},
    "sluice_request_duration_seconds_count": {"route"},
    "sluice_upstream_requests_total": {"upstream", "server", "outcome"},
    "sluice_upstream_healthy": {"upstream", "server"},
    "sluice_circuit_state": {"upstream", "server"},
    "sluice_ratelimit_rejected_total": {"limit"},
    "sluice_cache_requests_total": {"result"},
    "sluice_connections_active": {"listener"},
    "sluice_websocket_sessions_active": set(),
    "sluice_config_generation": set(),
    "sluice_config_reloads_total": {"result"},
}
# Labels Prometheus attaches to every scraped series.
TARGET_LABELS = {"instance", "job", "namespace", "pod", "container", "service", "node", "stack"}
PROMQL_FUNCTIONS = {
    "abs", "absent", "absent_over_time", "acos", "acosh", "asin", "asinh", "atan", "atanh", "avg_over_time",
    "ceil", "changes", "clamp", "clamp_max", "clamp_min", "cos", "cosh", "count_over_time", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "deg", "delta", "deriv", "exp", "floor", "histogram_avg",
    "histogram_count", "histogram_fraction", "histogram_quantile", "histogram_stddev", "histogram_stdvar",
    "histogram_sum", "holt_winters", "hour", "idelta", "increase", "irate", "label_join", "label_replace",
    "last_over_time", "ln", "log10", "log2", "mad_over_time", "max_over_time", "min_over_time", "minute",
    "month", "pi", "predict_linear", "present_over_time", "quantile_over_time", "rad", "rate", "resets",
    "round", "scalar", "sgn", "sin", "sinh", "sort", "sort_by_label", "sort_by_label_desc", "sort_desc",
    "sqrt", "stddev_over_time", "stdvar_over_time", "sum_over_time", "tan", "tanh", "time", "timestamp",
    "vector", "year",
}
PROMQL_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
                       "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
PROMQL_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
                   "unless", "offset", "inf", "nan", "atan2"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
                    "__dashboard", "__from", "__to"}

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_VAR = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}")
_MATCHER = re.compile(r"^\s*([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*\"\"\s*$")
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_NUMBER = re.compile(r"(?<![\w.])(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|0x[0-9a-fA-F]+)(?![\w])")
_IDENT = re.compile(r"[A-Za-z_:][\w:]*")


def promql_problems(expr: str, variables: set[str]) -> tuple[list[str], set[str]]:
    """Problems of one PromQL expression, and the Sluice metrics it uses."""
    probs: list[str] = []
    used: set[str] = set()
    for m in _VAR.finditer(expr):
        v = m.group(1) or m.group(2) or m.group(3)
        if v not in variables and v not in GRAFANA_BUILTINS:
            probs.append(f"uses ${v}, which is not a dashboard variable")
    s = _STRING.sub('""', expr)
    s = _VAR.sub("VAR", s)
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            break
    if depth != 0 or s.count("{") != s.count("}") or s.count("[") != s.count("]"):
        probs.append("unbalanced brackets")
        return probs, used
    labels_by_metric: list[tuple[str | None, set[str]]] = []
    for m in _SELECTOR.finditer(s):
        names = set()
        for part in m.group(2).split(","):
            if not part.strip():
                continue
            mm = _MATCHER.match(part)
            if not mm:
                probs.append(f"bad label matcher {part.strip()!r}")
            else:
                names.add(mm.group(1))
        labels_by_metric.append((m.group(1), names))
    s = _SELECTOR.sub(lambda m: m.group(1) or "", s)
    s = re.sub(r"\[[^\]]*\]", "", s)
    grouping = set()
    for m in _GROUPING.finditer(s):
        grouping |= {x.strip() for x in m.group(2).split(",") if x.strip()}
    s = _GROUPING.sub(" ", s)
    s = _NUMBER.sub(" ", s)
    for ident in _IDENT.findall(s):
        if ident in PROMQL_FUNCTIONS or ident in PROMQL_AGGREGATIONS or ident in PROMQL_KEYWORDS or ident == "VAR":
            continue
        if ident in METRICS:
            used.add(ident)
        else:
            probs.append(f"unknown metric or function {ident!r}")
    if not used and not probs:
        probs.append("references no Sluice metric")
    allowed_all = set().union(*(METRICS[u] for u in used)) | TARGET_LABELS if used else TARGET_LABELS
    for metric, names in labels_by_metric:
        allowed = (METRICS.get(metric, set()) | TARGET_LABELS) if metric in METRICS else allowed_all
        for n in sorted(names - allowed):
            probs.append(f"label {n!r} is not a label of {metric or 'the metrics used'}")
    for n in sorted(grouping - allowed_all):
        probs.append(f"groups by {n!r}, which no metric of the expression has")
    return probs, used


def _walk_panels(panels: list) -> list[dict]:
    out = []
    for p in panels or []:
        out.append(p)
        out += _walk_panels(p.get("panels") or [])
    return out


def check_dashboard(dash: dict) -> tuple[list[str], set[str]]:
    """Problems of a Grafana dashboard, and the Sluice metrics its panels use."""
    probs: list[str] = []
    used: set[str] = set()
    for k in ("uid", "title", "panels", "schemaVersion"):
        if k not in dash:
            probs.append(f"dashboard: no {k}")
    variables = set()
    for v in (dash.get("templating") or {}).get("list") or []:
        variables.add(v.get("name"))
    for v in (dash.get("templating") or {}).get("list") or []:
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", q or "")
        if not m:
            probs.append(f"variable {v.get('name')}: expected label_values(METRIC, LABEL), got {q!r}")
            continue
        ps, u = promql_problems(m.group(1), variables)
        probs += [f"variable {v.get('name')}: {p}" for p in ps]
        if u and m.group(2) not in set().union(*(METRICS[x] for x in u)) | TARGET_LABELS:
            probs.append(f"variable {v.get('name')}: {m.group(2)!r} is not a label of {sorted(u)}")
    ids = set()
    panels = _walk_panels(dash.get("panels") or [])
    for p in panels:
        where = f"panel {p.get('id')} {p.get('title')!r}"
        if not p.get("title") or not p.get("type"):
            probs.append(f"{where}: needs a title and a type")
        if p.get("id") in ids or not isinstance(p.get("id"), int):
            probs.append(f"{where}: id missing or not unique")
        ids.add(p.get("id"))
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("h", "w", "x", "y")) or g.get("x", 0) + g.get("w", 0) > 24:
            probs.append(f"{where}: gridPos needs integer h, w, x, y within 24 columns")
        if p.get("type") == "row":
            continue
        targets = p.get("targets") or []
        if not targets:
            probs.append(f"{where}: no queries")
        refs = [t.get("refId") for t in targets]
        if len(refs) != len(set(refs)) or not all(refs):
            probs.append(f"{where}: query refIds missing or repeated")
        for t in targets:
            ds = t.get("datasource") or p.get("datasource") or {}
            uid = ds.get("uid", "") if isinstance(ds, dict) else str(ds)
            var = _VAR.fullmatch(uid)
            if var and (var.group(1) or var.group(2)) not in variables:
                probs.append(f"{where}: datasource {uid} is not a dashboard variable")
            expr = t.get("expr")
            if not expr:
                probs.append(f"{where}: query {t.get('refId')} has no expr")
                continue
            ps, u = promql_problems(expr, variables)
            probs += [f"{where}: {p_}: {expr}" for p_ in ps]
            used |= u
    return probs, used


