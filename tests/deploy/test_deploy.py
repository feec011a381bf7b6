#!/usr/bin/python3
"""Checks of Sluice's deployment artifacts that run without Docker or a cluster.

    /usr/bin/python3 tests/deploy/test_deploy.py [-v] [TestClass[.test_name]]

Registered with CTest as `deploy_manifests`. Parses every YAML/JSON/TOML artifact, checks the
Kubernetes manifests' required fields and cross references, the Dockerfiles' COPY sources and
packages, the compose stack's wiring, the Grafana dashboard's PromQL against the contract's
metric names, runs yamllint (and kubectl kustomize, shellcheck, cmake, sluice -t when present),
exercises the healthcheck and reload scripts, and proves the checkers catch broken copies.
"""

from __future__ import annotations

import copy
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import unittest
import uuid
from pathlib import Path

import yaml

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(Path(__file__).resolve().parent))
import checks  # noqa: E402
from checks import DOCKER, K8S, REPO  # noqa: E402

YAMLLINT_CONFIG = "{extends: relaxed, rules: {line-length: {max: 120}}}"
KUSTOMIZE_DIRS = [K8S, K8S / "monitoring"]
PROXY_IMAGE = checks.DockerfileSpec(DOCKER / "sluice.Dockerfile", ["sluice"], {8080, 9901}, ["9901", "/healthz"])
BACKENDS_IMAGE = checks.DockerfileSpec(DOCKER / "backends.Dockerfile", ["sluice-items", "sluice-echo"],
                                       {9001, 9003}, ["127.0.0.1:9001"])
# Libraries every debian:12-slim image already has.
BASE_IMAGE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6", "zlib1g"}


def all_yaml_files() -> list[Path]:
    files = [p for d in (DOCKER, K8S) for ext in ("*.yaml", "*.yml") for p in d.rglob(ext)]
    return sorted(files)


def k8s_docs(kdir: Path = K8S) -> list[dict]:
    kust = checks.load_yaml_docs(kdir / "kustomization.yaml")[0]
    return [d for r in kust.get("resources") or [] for d in checks.load_yaml_docs(kdir / r)]


def k8s_namespace(kdir: Path = K8S) -> str | None:
    return checks.load_yaml_docs(kdir / "kustomization.yaml")[0].get("namespace")


def repo_conf() -> dict:
    return tomllib.loads((REPO / "conf" / "sluice.toml").read_text())


def sluice_bin_dir() -> Path | None:
    for d in (os.environ.get("SLUICE_BIN_DIR"), REPO / os.environ.get("BUILD_DIR", "build") / "bin",
              REPO / "build" / "bin"):
        if d and (Path(d) / "sluice").is_file():
            return Path(d)
    return None


def configmap_toml_text() -> str:
    cm = checks.find(k8s_docs(), "ConfigMap", "sluice-config")
    return cm["data"]["sluice.toml"]


def load_compose_inputs():
    compose = checks.load_yaml_docs(DOCKER / "compose.yaml")[0]
    prom = checks.load_yaml_docs(DOCKER / "prometheus.yml")[0]
    ds = checks.load_yaml_docs(DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")[0]
    prov = checks.load_yaml_docs(DOCKER / "grafana" / "provisioning" / "dashboards" / "sluice.yaml")[0]
    return compose, prom, ds, prov


def dashboard() -> dict:
    with open(DOCKER / "grafana" / "dashboards" / "sluice.json", encoding="utf-8") as f:
        return json.load(f)


# ------------------------------------------------------------------------------------------


class TestSyntax(unittest.TestCase):
    def test_every_yaml_file_parses(self):
        files = all_yaml_files()
        self.assertGreater(len(files), 10, files)
        for f in files:
            with self.subTest(file=str(f.relative_to(REPO))):
                self.assertTrue(checks.load_yaml_docs(f), "no documents")

    def test_yamllint_relaxed(self):
        if not shutil.which("yamllint"):
            self.skipTest("yamllint is not installed")
        r = subprocess.run(["yamllint", "-f", "parsable", "--strict", "-d", YAMLLINT_CONFIG,
                            *map(str, all_yaml_files())], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_dashboard_json_parses(self):
        files = list((DOCKER / "grafana").rglob("*.json"))
        self.assertTrue(files)
        for f in files:
            with self.subTest(file=f.name), open(f, encoding="utf-8") as fh:
                self.assertIsInstance(json.load(fh), dict)

    def test_toml_configs_parse(self):
        texts = {"docker/sluice/sluice.toml": (DOCKER / "sluice" / "sluice.toml").read_text(),
                 "k8s ConfigMap sluice.toml": configmap_toml_text()}
        for name, text in texts.items():
            with self.subTest(config=name):
                cfg = tomllib.loads(text)
                for table in ("server", "admin", "listener", "upstream", "route"):
                    self.assertIn(table, cfg)
                checks.parse_duration(cfg["server"]["drain_timeout"])

    def test_scripts_are_executable_and_pass_shellcheck(self):
        scripts = sorted(DOCKER.glob("*.sh"))
        self.assertTrue(scripts)
        for s in scripts:
            self.assertTrue(os.access(s, os.X_OK), f"{s.name} is not executable")
        if not shutil.which("shellcheck"):
            self.skipTest("shellcheck is not installed")
        r = subprocess.run(["shellcheck", *map(str, scripts)], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


class TestKubernetes(unittest.TestCase):
    def test_kustomizations_list_existing_files_and_every_file(self):
        for kdir in KUSTOMIZE_DIRS:
            with self.subTest(dir=kdir.name):
                kust = checks.load_yaml_docs(kdir / "kustomization.yaml")[0]
                self.assertEqual(checks.check_kustomization(kdir, kust), [])

    def test_manifests_have_required_fields_and_consistent_references(self):
        for kdir in KUSTOMIZE_DIRS:
            docs = k8s_docs(kdir)
            if kdir != K8S:
                docs += k8s_docs(K8S)  # the PodMonitor selects the main stack's pods
            with self.subTest(dir=kdir.name):
                self.assertEqual(checks.check_manifests(docs, k8s_namespace(kdir)), [])

    def test_expected_kinds_exist(self):
        kinds = {(d["kind"], d["metadata"]["name"]) for d in k8s_docs()}
        for want in [("Deployment", "sluice"), ("Service", "sluice"), ("ConfigMap", "sluice-config"),
                     ("HorizontalPodAutoscaler", "sluice"), ("PodDisruptionBudget", "sluice"),
                     ("Deployment", "redis"), ("Service", "redis"), ("Deployment", "items"),
                     ("Service", "items"), ("Deployment", "echo"), ("Service", "echo")]:
            self.assertIn(want, kinds)

    def test_sluice_deployment_probes_ports_termination_reloader(self):
        found = checks.SluicePod()
        self.assertEqual(checks.check_sluice_deployment(k8s_docs(), repo_conf(), found), [])
        self.assertEqual(found.config["redis"]["servers"], ["redis:6379"])

    def test_hpa_scales_on_cpu_and_pdb_keeps_one(self):
        docs = k8s_docs()
        hpa = checks.find(docs, "HorizontalPodAutoscaler", "sluice")
        self.assertEqual(hpa["spec"]["scaleTargetRef"]["name"], "sluice")
        self.assertIn("cpu", [m["resource"]["name"] for m in hpa["spec"]["metrics"]])
        self.assertGreaterEqual(hpa["spec"]["minReplicas"], 2)
        self.assertGreaterEqual(checks.find(docs, "PodDisruptionBudget", "sluice")["spec"]["minAvailable"], 1)

    def test_images_match_the_compose_images(self):
        compose = load_compose_inputs()[0]
        built = {s["image"] for s in compose["services"].values() if s.get("build")}
        for d in k8s_docs():
            for c in checks.pod_spec(d).get("containers") or []:
                if c["image"].split(":")[0] in {b.split(":")[0] for b in built}:
                    self.assertIn(c["image"], built, f"{d['metadata']['name']}/{c['name']}")

    def test_reloader_command_is_installed_by_the_image(self):
        dests = checks.dockerfile_copy_destinations(PROXY_IMAGE.path.read_text())
        dep = checks.find(k8s_docs(), "Deployment", "sluice")
        for c in checks.pod_spec(dep)["containers"]:
            cmd = (c.get("command") or [None])[0]
            if cmd:
                self.assertIn(cmd, dests, f"container {c['name']} runs {cmd}, which the image does not have")

    def test_kubectl_kustomize_renders(self):
        if not shutil.which("kubectl"):
            self.skipTest("kubectl is not installed")
        for kdir in KUSTOMIZE_DIRS:
            with self.subTest(dir=kdir.name):
                r = subprocess.run(["kubectl", "kustomize", str(kdir)], capture_output=True, text=True, timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr)
                rendered = [d for d in yaml.safe_load_all(r.stdout) if d]
                self.assertEqual(len(rendered), len(k8s_docs(kdir)))
                ns = k8s_namespace(kdir)
                for d in rendered:
                    if d["kind"] != "Namespace":
                        self.assertEqual(d["metadata"].get("namespace"), ns, d["metadata"]["name"])


class TestDocker(unittest.TestCase):
    def _check(self, spec):
        ignore = spec.path.with_name(spec.path.name + ".dockerignore")
        self.assertTrue(ignore.is_file(), f"{ignore.name} keeps build/ out of the context")
        return checks.check_dockerfile(spec, spec.path.read_text(), ignore.read_text())

    def test_proxy_dockerfile(self):
        self.assertEqual(self._check(PROXY_IMAGE), [])

    def test_backends_dockerfile(self):
        self.assertEqual(self._check(BACKENDS_IMAGE), [])

    def test_copied_tree_holds_every_directory_cmake_needs(self):
        for spec in (PROXY_IMAGE, BACKENDS_IMAGE):
            stage = checks.dockerfile_stages(checks.parse_dockerfile(spec.path.read_text()))[0]
            copied = {s.strip("/").split("/")[0] for i in stage.instructions if i.cmd == "COPY"
                      for s in checks.copy_sources(i)[1]}
            with self.subTest(dockerfile=spec.path.name):
                self.assertIn("CMakeLists.txt", copied)
                self.assertEqual(checks.cmake_subdirectories() - copied, set())

    def test_cmake_configures_from_the_copied_tree(self):
        """Configure (no compile) the exact file set the build stage copies, without tests."""
        if not shutil.which("cmake"):
            self.skipTest("cmake is not installed")
        stage = checks.dockerfile_stages(checks.parse_dockerfile(PROXY_IMAGE.path.read_text()))[0]
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "src"
            src.mkdir()
            for ins in stage.instructions:
                if ins.cmd != "COPY":
                    continue
                for s in checks.copy_sources(ins)[1]:
                    p = REPO / s
                    dst = src / s.rstrip("/")
                    if p.is_dir():
                        shutil.copytree(p, dst)
                    else:
                        shutil.copy2(p, dst)
            gen = ["-G", "Ninja"] if shutil.which("ninja") else []
            r = subprocess.run(["cmake", "-S", str(src), "-B", str(Path(tmp) / "build"), *gen,
                                "-DCMAKE_BUILD_TYPE=Release", "-DSLUICE_BUILD_TESTS=OFF"],
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])

    def test_runtime_packages_cover_the_linked_libraries(self):
        """ldd the built binaries and map each library to its Debian package (dpkg -S)."""
        bindir = sluice_bin_dir()
        if bindir is None or not shutil.which("ldd") or not shutil.which("dpkg"):
            self.skipTest("needs build/bin/sluice, ldd and dpkg")
        for spec in (PROXY_IMAGE, BACKENDS_IMAGE):
            final = checks.dockerfile_stages(checks.parse_dockerfile(spec.path.read_text()))[-1]
            have = checks.apt_packages(final) | BASE_IMAGE_PACKAGES
            libs = set()
            for b in spec.binaries:
                if (bindir / b).is_file():
                    out = subprocess.run(["ldd", str(bindir / b)], capture_output=True, text=True).stdout
                    libs |= {Path(l.split("=>")[1].split()[0]) for l in out.splitlines()
                             if "=>" in l and "/" in l.split("=>")[1]}
            owners = self._owners(libs)
            for lib in sorted(libs):
                with self.subTest(dockerfile=spec.path.name, lib=lib.name):
                    pkgs = owners.get(lib, set())
                    self.assertTrue(pkgs, f"no package owns {lib}")
                    self.assertTrue(pkgs & have, f"{spec.path.name}: runtime stage lacks {sorted(pkgs)} "
                                                 f"for {lib.name}")

    @staticmethod
    def _owners(libs: set[Path]) -> dict[Path, set[str]]:
        """lib -> owning packages, with one dpkg -S call (paths tried with and without /usr)."""
        cands: dict[str, Path] = {}
        for lib in libs:
            for c in {str(lib), str(lib.resolve())}:
                cands[c] = lib
                for a, b in (("/usr/lib/", "/lib/"), ("/lib/", "/usr/lib/")):
                    if c.startswith(a):
                        cands[b + c[len(a):]] = lib
        r = subprocess.run(["dpkg", "-S", *cands], capture_output=True, text=True)
        owners: dict[Path, set[str]] = {}
        for line in r.stdout.splitlines():
            pkgs, _, path = line.partition(": ")
            if path in cands:
                owners.setdefault(cands[path], set()).update(p.split(":")[0] for p in pkgs.split(", "))
        return owners


class TestCompose(unittest.TestCase):
    def test_compose_stack_wiring(self):
        compose, prom, ds, prov = load_compose_inputs()
        self.assertEqual(checks.check_compose(compose, DOCKER, prom, repo_conf(), ds, prov), [])

    def test_compose_has_the_demo_services(self):
        services = load_compose_inputs()[0]["services"]
        for s in ("redis", "items-1", "items-2", "echo-1", "sluice", "prometheus", "grafana"):
            self.assertIn(s, services)
        self.assertEqual(services["prometheus"].get("profiles"), ["monitoring"])


class TestDashboard(unittest.TestCase):
    def test_panels_query_only_contract_metrics(self):
        probs, used = checks.check_dashboard(dashboard())
        self.assertEqual(probs, [])

    def test_every_contract_metric_has_a_panel(self):
        _, used = checks.check_dashboard(dashboard())
        self.assertEqual(set(checks.METRICS) - used, set())

    def test_datasource_is_the_provisioned_one_or_a_variable(self):
        ds = load_compose_inputs()[2]["datasources"][0]
        var = [v for v in dashboard()["templating"]["list"] if v["name"] == "datasource"][0]
        self.assertEqual(var["type"], "datasource")
        self.assertEqual(var["query"], ds["type"])


class TestSluiceAcceptsConfigs(unittest.TestCase):
    """`sluice -t` on the compose and ConfigMap configs: both must validate (exit 0, "is valid")."""

    def test_configs_validate(self):
        bindir = sluice_bin_dir()
        if bindir is None:
            self.skipTest("build/bin/sluice is not built")
        with tempfile.TemporaryDirectory() as tmp:
            k8s_file = Path(tmp) / "k8s-sluice.toml"
            k8s_file.write_text(configmap_toml_text())
            for f in (DOCKER / "sluice" / "sluice.toml", k8s_file):
                with self.subTest(config=f.name):
                    r = subprocess.run([str(bindir / "sluice"), "-t", "-c", str(f)],
                                       capture_output=True, text=True, timeout=30)
                    self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                    self.assertIn("is valid", r.stdout, r.stdout + r.stderr)
                    if r.returncode != 0:
                        self.assertTrue("not supported yet" in r.stdout + r.stderr, r.stdout + r.stderr)


# ------------------------------------------------------------------------------------------
# The scripts baked into the images


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = 200 if self.path == "/healthz" else 503
        body = b"ok\n" if code == 200 else b"draining\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except OSError:
            pass  # the health check hangs up once it has the status line

    def log_message(self, *args):
        pass


class TestHealthcheckScript(unittest.TestCase):
    script = DOCKER / "healthcheck.sh"

    @classmethod
    def setUpClass(cls):
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
        cls.addr = f"127.0.0.1:{cls.server.server_address[1]}"
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def run_check(self, *args, env=None):
        e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
        e.update(env or {})
        return subprocess.run(["/bin/bash", str(self.script), *args], capture_output=True, text=True,
                              timeout=10, env=e).returncode

    def test_200_is_healthy(self):
        self.assertEqual(self.run_check(self.addr, "/healthz"), 0)

    def test_503_is_unhealthy(self):
        self.assertEqual(self.run_check(self.addr, "/readyz"), 1)

    def test_closed_port_is_unhealthy(self):
        with socket_closed_port() as port:
            self.assertEqual(self.run_check(f"127.0.0.1:{port}", "/healthz"), 1)

    def test_defaults_from_environment(self):
        self.assertEqual(self.run_check(env={"HEALTHCHECK_ADDR": self.addr}), 0)
        self.assertEqual(self.run_check(env={"HEALTHCHECK_ADDR": self.addr, "HEALTHCHECK_PATH": "/readyz"}), 1)

    def test_bad_address(self):
        self.assertEqual(self.run_check("no-port"), 2)


class socket_closed_port:
    """A port that was just free (bound, then closed)."""

    def __enter__(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc):
        return False


FAKE_SLUICE = r"""
import signal, sys, time
out = sys.argv[1]
def hup(sig, frame):
    with open(out, "a") as f:
        f.write("HUP\n")
signal.signal(signal.SIGHUP, hup)
open(out + ".ready", "w").close()
while True:
    time.sleep(0.05)
"""


class TestReloadScript(unittest.TestCase):
    """docker/sluice-reload.sh against a stand-in process with a unique name (so that no real
    sluice of a concurrent test gets a SIGHUP), on a kubelet-style ConfigMap directory where
    updates swap the ..data symlink."""

    def setUp(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="sluice-reload-"))
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.name = "fk" + uuid.uuid4().hex[:10]  # /proc/PID/comm keeps 15 characters
        exe = self.tmp / self.name
        exe.symlink_to(os.path.realpath(sys.executable))
        self.hups = self.tmp / "hups"
        self.conf_dir = self.tmp / "conf"
        self.conf_dir.mkdir()
        self.generation = 0
        self.publish("[server]\nworkers = 1\n")
        (self.conf_dir / "sluice.toml").symlink_to("..data/sluice.toml")
        script = self.tmp / "fake.py"
        script.write_text(FAKE_SLUICE)
        self.fake = subprocess.Popen([str(exe), str(script), str(self.hups)])
        self.addCleanup(self.stop, self.fake)
        self.wait_for(lambda: Path(str(self.hups) + ".ready").exists(), "the stand-in did not start")
        env = dict(os.environ, SLUICE_CONFIG=str(self.conf_dir / "sluice.toml"), RELOAD_INTERVAL="0.1",
                   SLUICE_PROCESS_NAME=self.name)
        self.reloader = subprocess.Popen(["/bin/bash", str(DOCKER / "sluice-reload.sh")], env=env,
                                         stderr=subprocess.PIPE, text=True)
        self.addCleanup(self.stop, self.reloader)
        time.sleep(0.4)  # let it record the initial digest

    @staticmethod
    def stop(p):
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()

    def publish(self, text: str):
        """What the kubelet does: write a new timestamped dir, then swap ..data atomically."""
        self.generation += 1
        d = self.conf_dir / f"..gen_{self.generation}"
        d.mkdir()
        (d / "sluice.toml").write_text(text)
        tmp_link = self.conf_dir / "..data_tmp"
        tmp_link.symlink_to(d.name)
        os.replace(tmp_link, self.conf_dir / "..data")

    def hup_count(self) -> int:
        return len(self.hups.read_text().splitlines()) if self.hups.exists() else 0

    def wait_for(self, cond, msg, timeout=10.0):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if cond():
                return
            time.sleep(0.05)
        self.fail(msg)

    def test_unchanged_config_sends_nothing(self):
        time.sleep(0.6)
        self.assertEqual(self.hup_count(), 0)
        self.publish("[server]\nworkers = 1\n")  # same content, new directory
        time.sleep(0.6)
        self.assertEqual(self.hup_count(), 0)

    def test_each_change_sends_one_sighup(self):
        self.publish("[server]\nworkers = 2\n")
        self.wait_for(lambda: self.hup_count() == 1, "no SIGHUP after the first change")
        time.sleep(0.5)
        self.assertEqual(self.hup_count(), 1, "SIGHUP repeated without a change")
        self.publish("[server]\nworkers = 3\n")
        self.wait_for(lambda: self.hup_count() == 2, "no SIGHUP after the second change")

    def test_sigterm_stops_it_promptly(self):
        self.reloader.send_signal(signal.SIGTERM)
        self.assertEqual(self.reloader.wait(timeout=3), 0)
        self.assertIn("watching", self.reloader.stderr.read())


# ------------------------------------------------------------------------------------------
# The checkers must fail on broken artifacts: each case breaks one thing in a copy.


class TestCheckersCatchBreakage(unittest.TestCase):
    def assertCaught(self, probs, needle):
        self.assertTrue(any(needle in p for p in probs), f"expected a problem mentioning {needle!r}, got {probs}")

    # --- Kubernetes
    def k8s_case(self, mutate, needle, sluice=True):
        docs = copy.deepcopy(k8s_docs())
        mutate(docs)
        probs = checks.check_manifests(docs, k8s_namespace())
        if sluice:
            probs += checks.check_sluice_deployment(docs, repo_conf())
        self.assertCaught(probs, needle)

    @staticmethod
    def sluice_container(docs, name="sluice"):
        dep = checks.find(docs, "Deployment", "sluice")
        return next(c for c in checks.pod_spec(dep)["containers"] if c["name"] == name)

    @staticmethod
    def set_toml(docs, old, new):
        cm = checks.find(docs, "ConfigMap", "sluice-config")
        assert old in cm["data"]["sluice.toml"], old
        cm["data"]["sluice.toml"] = cm["data"]["sluice.toml"].replace(old, new)

    def test_k8s_breakages_are_caught(self):
        S = self.sluice_container
        cases = {
            "readiness on /healthz": (lambda d: S(d)["readinessProbe"]["httpGet"].update(path="/healthz"), "/readyz"),
            "liveness on the http port": (lambda d: S(d)["livenessProbe"]["httpGet"].update(port="http"),
                                          "not the admin port"),
            "probe on a port the container lacks": (lambda d: S(d)["readinessProbe"]["httpGet"].update(port=9999),
                                                    "not a port of the container"),
            "grace period too short": (lambda d: checks.pod_spec(checks.find(d, "Deployment", "sluice")).update(
                terminationGracePeriodSeconds=30), "terminationGracePeriodSeconds"),
            "drain_timeout longer than the grace period": (
                lambda d: self.set_toml(d, 'drain_timeout = "30s"', 'drain_timeout = "60s"'),
                "terminationGracePeriodSeconds"),
            "no preStop": (lambda d: S(d).pop("lifecycle"), "preStop"),
            "listener port moved in the ConfigMap": (
                lambda d: self.set_toml(d, 'listen = "0.0.0.0:8080"', 'listen = "0.0.0.0:8081"'), "8081"),
            "admin port moved in the ConfigMap": (
                lambda d: self.set_toml(d, 'listen = "0.0.0.0:9901"', 'listen = "0.0.0.0:9902"'), "admin port"),
            "admin bound to loopback": (
                lambda d: self.set_toml(d, 'listen = "0.0.0.0:9901"', 'listen = "127.0.0.1:9901"'),
                "bind all interfaces"),
            "broken TOML": (lambda d: self.set_toml(d, "[server]", "[server"), "not valid TOML"),
            "upstream host without a Service": (
                lambda d: self.set_toml(d, '"items:9001"', '"itemz:9001"'), "no Service named itemz"),
            "redis port wrong": (lambda d: self.set_toml(d, '"redis:6379"', '"redis:6380"'), "has no port 6380"),
            "Service targetPort wrong": (
                lambda d: checks.find(d, "Service", "sluice")["spec"]["ports"][0].update(targetPort="web"),
                "targetPort 'web'"),
            "Service exposes admin": (
                lambda d: checks.find(d, "Service", "sluice")["spec"]["ports"][0].update(targetPort="admin"),
                "exposes the admin port"),
            "selector does not match labels": (
                lambda d: checks.find(d, "Deployment", "items")["spec"]["selector"]["matchLabels"].update(
                    {"app.kubernetes.io/name": "itemz"}), "does not match the template labels"),
            "Service selector matches nothing": (
                lambda d: checks.find(d, "Service", "redis")["spec"]["selector"].update(tier="x"),
                "matches no Deployment"),
            "container without image": (lambda d: S(d).pop("image"), "no image"),
            "HPA targets a missing Deployment": (
                lambda d: checks.find(d, "HorizontalPodAutoscaler", "sluice")["spec"]["scaleTargetRef"].update(
                    name="sluice-typo"), "names no Deployment"),
            "PDB selector wrong": (
                lambda d: checks.find(d, "PodDisruptionBudget", "sluice")["spec"]["selector"]["matchLabels"].update(
                    {"app.kubernetes.io/component": "db"}), "PodDisruptionBudget sluice: selector"),
            "PDB blocks every eviction": (
                lambda d: checks.find(d, "PodDisruptionBudget", "sluice")["spec"].update(minAvailable=2),
                "no pod could ever be evicted"),
            "runs as root": (lambda d: checks.pod_spec(checks.find(d, "Deployment", "echo"))["securityContext"].update(
                runAsNonRoot=False, runAsUser=0), "runAsUser is 0"),
            "privilege escalation": (lambda d: S(d)["securityContext"].update(allowPrivilegeEscalation=True),
                                     "allowPrivilegeEscalation"),
            "writable root fs": (lambda d: S(d)["securityContext"].pop("readOnlyRootFilesystem"),
                                 "readOnlyRootFilesystem"),
            "capabilities kept": (lambda d: S(d)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
                                  "drop does not include ALL"),
            "no memory limit": (lambda d: S(d)["resources"]["limits"].pop("memory"), "resources.limits.memory"),
            "config mounted with subPath": (lambda d: S(d)["volumeMounts"][0].update(subPath="sluice.toml"),
                                            "subPath"),
            "no shareProcessNamespace": (
                lambda d: checks.pod_spec(checks.find(d, "Deployment", "sluice")).pop("shareProcessNamespace"),
                "shareProcessNamespace"),
            "reloader under another uid": (
                lambda d: S(d, "config-reloader")["securityContext"].update(runAsUser=10002), "uid"),
            "ConfigMap name typo": (
                lambda d: checks.pod_spec(checks.find(d, "Deployment", "sluice"))["volumes"][0]["configMap"].update(
                    name="sluice-cfg"), "not defined"),
            "undefined $(VAR)": (lambda d: S(d).update(args=["-c", "/etc/sluice/sluice.toml", "$(NOPE)"]),
                                 "$(NOPE)"),
            "replicas fights the HPA": (lambda d: checks.find(d, "Deployment", "sluice")["spec"].update(replicas=3),
                                        "spec.replicas"),
            "missing metadata.name": (lambda d: checks.find(d, "Service", "echo")["metadata"].pop("name"),
                                      "metadata.name are required"),
            "deprecated HPA API": (
                lambda d: checks.find(d, "HorizontalPodAutoscaler", "sluice").update(apiVersion="autoscaling/v1"),
                "expected autoscaling/v2"),
            "wrong namespace": (lambda d: checks.find(d, "Service", "echo")["metadata"].update(namespace="default"),
                                "metadata.namespace"),
            "workers above the CPU limit": (lambda d: self.set_toml(d, "workers = 2 ", "workers = 8 "), "workers"),
        }
        for name, (mutate, needle) in cases.items():
            with self.subTest(case=name):
                self.k8s_case(mutate, needle)

    def test_kustomization_missing_file_is_caught(self):
        kust = copy.deepcopy(checks.load_yaml_docs(K8S / "kustomization.yaml")[0])
        kust["resources"].remove("sluice-pdb.yaml")
        self.assertCaught(checks.check_kustomization(K8S, kust), "sluice-pdb.yaml is not listed")
        kust["resources"].append("nope.yaml")
        self.assertCaught(checks.check_kustomization(K8S, kust), "nope.yaml does not exist")

    # --- Dockerfiles
    def docker_case(self, old, new, needle, spec=PROXY_IMAGE, ignore_old=None, ignore_new=None):
        text = spec.path.read_text()
        ignore = spec.path.with_name(spec.path.name + ".dockerignore").read_text()
        if old is not None:
            self.assertIn(old, text)
            text = text.replace(old, new)
        if ignore_old is not None:
            self.assertIn(ignore_old, ignore)
            ignore = ignore.replace(ignore_old, ignore_new)
        self.assertCaught(checks.check_dockerfile(spec, text, ignore), needle)

    def test_dockerfile_breakages_are_caught(self):
        self.docker_case("COPY docker/healthcheck.sh", "COPY docker/health-check.sh", "does not exist")
        self.docker_case("HEALTHCHECK --interval", "# HEALTHCHECK --interval", "HEALTHCHECK")
        self.docker_case('"127.0.0.1:9901"', '"127.0.0.1:9902"', "does not check 9901")
        self.docker_case("USER 10001:10001", "USER root", "runs as root")
        self.docker_case("USER 10001:10001", "", "no USER")
        self.docker_case("EXPOSE 8080 9901", "EXPOSE 8080", "lacks [9901]")
        self.docker_case("libre2-dev ", "", "does not install ['libre2-dev']")
        self.docker_case("      ca-certificates \\\n", "      ca-certificates libssl-dev \\\n",
                         "build-only packages")
        self.docker_case("FROM debian:12-slim AS runtime", "FROM ubuntu:24.04 AS runtime", "debian:12-slim")
        self.docker_case("COPY --from=build /src/build/bin/sluice ", "COPY --from=builder /src/build/bin/sluice ",
                         "names no stage")
        self.docker_case(None, None, "excluded by the dockerignore", ignore_old="!proxy/\n", ignore_new="")
        self.docker_case("COPY --from=build /src/build/bin/sluice-items /src/build/bin/sluice-echo",
                         "COPY --from=build /src/build/bin/sluice-items", "sluice-echo", spec=BACKENDS_IMAGE)

    def test_dockerignore_semantics(self):
        pats = checks.dockerignore_patterns("*\n!proxy/\n!docker/a.sh\nproxy/secret\n")
        self.assertTrue(checks.dockerignore_excludes(pats, "build/bin/sluice"))
        self.assertFalse(checks.dockerignore_excludes(pats, "proxy/main.cpp"))
        self.assertTrue(checks.dockerignore_excludes(pats, "proxy/secret/key"))
        self.assertFalse(checks.dockerignore_excludes(pats, "docker/a.sh"))
        self.assertTrue(checks.dockerignore_excludes(pats, "docker/b.sh"))

    # --- compose
    def compose_case(self, mutate, needle):
        compose, prom, ds, prov = map(copy.deepcopy, load_compose_inputs())
        mutate(compose, prom, ds, prov)
        self.assertCaught(checks.check_compose(compose, DOCKER, prom, repo_conf(), ds, prov), needle)

    def test_compose_breakages_are_caught(self):
        sv = lambda c, n: c["services"][n]  # noqa: E731
        self.compose_case(lambda c, p, d, v: sv(c, "sluice")["build"].update(dockerfile="docker/Dockerfile"),
                          "does not exist")
        self.compose_case(lambda c, p, d, v: p["scrape_configs"][0]["static_configs"][0].update(
            targets=["sluice:9902"]), "no scrape target sluice:9901")
        self.compose_case(lambda c, p, d, v: sv(c, "items-2").update(
            command=["sluice-items", "--listen", "0.0.0.0:9005", "--name", "items-2"]), "listens on 9005")
        self.compose_case(lambda c, p, d, v: c["services"].pop("echo-1"), "no service named echo-1")
        self.compose_case(lambda c, p, d, v: sv(c, "sluice").update(volumes=["./nowhere:/etc/sluice:ro"]),
                          "does not exist")
        self.compose_case(lambda c, p, d, v: sv(c, "sluice").update(stop_grace_period="10s"),
                          "stop_grace_period")
        self.compose_case(lambda c, p, d, v: sv(c, "sluice").update(ports=["9901:9901"]),
                          "listener port 8080 is not published")
        self.compose_case(lambda c, p, d, v: d["datasources"][0].update(url="http://prom:9090"),
                          "names no compose service")
        self.compose_case(lambda c, p, d, v: v["providers"][0]["options"].update(path="/dashboards"),
                          "not a mounted directory")
        self.compose_case(lambda c, p, d, v: sv(c, "echo-1")["environment"].update(
            HEALTHCHECK_ADDR="127.0.0.1:9001"), "HEALTHCHECK_ADDR")

    # --- dashboard
    def dashboard_case(self, mutate, needle):
        d = copy.deepcopy(dashboard())
        mutate(d)
        self.assertCaught(checks.check_dashboard(d)[0], needle)

    def test_dashboard_breakages_are_caught(self):
        def first_query(d):
            return next(t for p in d["panels"] if p["type"] != "row" for t in p["targets"])

        def replace_expr(old, new):
            def m(d):
                n = 0
                for p in d["panels"]:
                    for t in p.get("targets") or []:
                        if old in t["expr"]:
                            t["expr"] = t["expr"].replace(old, new)
                            n += 1
                assert n, old
            return m

        self.dashboard_case(replace_expr("sluice_requests_total", "sluice_request_total"), "sluice_request_total")
        self.dashboard_case(replace_expr("sluice_circuit_state", "sluice_breaker_state"), "sluice_breaker_state")
        self.dashboard_case(replace_expr("by (route)", "by (path)"), "groups by 'path'")
        self.dashboard_case(replace_expr('result="hit"', 'status="hit"'), "label 'status'")
        self.dashboard_case(replace_expr("rate(sluice_requests_total", "rate((sluice_requests_total"),
                            "unbalanced")
        self.dashboard_case(replace_expr('route=~"$route"', 'route=~"$routes"'), "$routes")
        self.dashboard_case(replace_expr("sluice_request_duration_seconds_bucket",
                                         "sluice_request_duration_seconds"), "sluice_request_duration_seconds'")
        self.dashboard_case(lambda d: first_query(d).update(expr="up"), "'up'")
        self.dashboard_case(lambda d: d["panels"][3].update(id=d["panels"][2]["id"]), "not unique")
        self.dashboard_case(lambda d: d["templating"]["list"][2]["query"].update(
            query="label_values(sluice_requests_total, path)"), "'path' is not a label")

    # --- yamllint and TOML
    def test_yamllint_flags_broken_yaml(self):
        if not shutil.which("yamllint"):
            self.skipTest("yamllint is not installed")
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("a: 1\na: 2\nb: [1, 2\n")
        self.addCleanup(os.unlink, f.name)
        r = subprocess.run(["yamllint", "-d", YAMLLINT_CONFIG, f.name], capture_output=True, text=True)
        self.assertNotEqual(r.returncode, 0)


class TestDocs(unittest.TestCase):
    def test_deploy_doc_applies_every_manifest_in_order(self):
        text = (DOCKER / "DEPLOY.md").read_text()
        kust = checks.load_yaml_docs(K8S / "kustomization.yaml")[0]
        self.assertIn("kubectl apply -k k8s/", text)
        listed = [w[len("k8s/"):] for w in text.split() if w.startswith("k8s/") and w.endswith(".yaml")
                  and "/" not in w[len("k8s/"):]]
        order = [r for r in listed if r in kust["resources"]]
        self.assertEqual(sorted(set(order)), sorted(kust["resources"]), "DEPLOY.md's kubectl apply -f list")
        self.assertEqual(order[0], "namespace.yaml")


if __name__ == "__main__":
    unittest.main(verbosity=2)
