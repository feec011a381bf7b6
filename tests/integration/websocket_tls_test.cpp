// WebSocket pass-through and TLS termination with real clients: python3-websockets, curl and
// openssl s_client, against sluice and sluice-echo processes on kernel-chosen ports.

#include "fixture.hpp"

#include <boost/json.hpp>

#include <csignal>
#include <fstream>
#include <future>
#include <regex>
#include <thread>

#include <unistd.h>

namespace sluice::test {
namespace {

namespace json = boost::json;

const std::string ws_client = std::string(SLUICE_SOURCE_DIR) + "/tests/integration/tools/ws_client.py";

long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
    return -1;
}

class WebSocketTlsTest : public pki_test {
protected:
    void SetUp() override {
        echo = start_backend("echo", "echo-ws");
        toml_ = std::string(
            "[server]\nworkers = 2\naccess_log = \"off\"\nidle_timeout = \"20s\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n"
            "[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n\n"
            "[[listener]]\nname = \"https\"\nlisten = \"LISTEN\"\n"
            "tls = { certs = [ { names = [\"a.test\"], cert = \"" + pki->dir + "/a.pem\", key = \"" + pki->dir +
            "/a.key\" }, { names = [\"b.test\"], cert = \"" + pki->dir + "/b.pem\", key = \"" + pki->dir +
            "/b.key\" } ] }\n\n" +
            upstream_block("echo", {{&echo, 1}}) +
            "[[route]]\nname = \"ws\"\nmatch = { path_prefix = \"/ws\" }\nupstream = \"echo\"\nwebsocket = true\n\n"
            "[[route]]\nname = \"nows\"\nmatch = { path_prefix = \"/nows\" }\nrewrite_prefix = \"/ws\"\nupstream = \"echo\"\n\n"
            "[[route]]\nname = \"echo\"\nmatch = { path_prefix = \"/\" }\nupstream = \"echo\"\n");
        sluice = start_sluice(toml_);
        auto both = sluice.proc->wait_for(R"(listener "https" on 127\.0\.0\.1:(\d+))");
        if (!both) throw std::runtime_error("no https listener: " + sluice.proc->output());
        tls_port = static_cast<unsigned short>(std::stoi((*both)[1]));
        admin = admin_port(sluice);
    }
    std::string ws_url(const std::string& path = "/ws") const { return "ws://127.0.0.1:" + std::to_string(sluice.port) + path; }
    std::string curl_https(const std::string& name, const std::string& path) const {
        return "curl -sS --max-time 10 --cacert " + pki->dir + "/ca.pem --resolve " + name + ":" +
               std::to_string(tls_port) + ":127.0.0.1 https://" + name + ":" + std::to_string(tls_port) + path;
    }

    // Rewrites the config file (same listeners), with an extra first route or without it.
    void write_config(bool extra_route) {
        std::string text = std::regex_replace(toml_, std::regex("LISTEN"), "127.0.0.1:0");
        if (extra_route)
            text.insert(text.find("[[route]]"), "[[route]]\nname = \"extra\"\nmatch = { path_exact = \"/extra\" }\n"
                                                "direct_response = { status = 200, body = \"extra\" }\n\n");
        std::ofstream(sluice.config_path) << text;
    }

    std::string toml_;
    backend echo;
    proxy sluice;
    unsigned short tls_port = 0;
    unsigned short admin = 0;
};

TEST_F(WebSocketTlsTest, WebSocketMessagesInOrderBinaryPingAndCloseCodes) {
    auto [status, out] = run("/usr/bin/python3 " + ws_client + " messages " + ws_url());
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("ok messages=1000"), std::string::npos) << out;
}

TEST_F(WebSocketTlsTest, TwoHundredConcurrentSessions) {
    auto [status, out] = run("/usr/bin/python3 " + ws_client + " concurrent " + ws_url());
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("ok sessions=200"), std::string::npos) << out;
}

TEST_F(WebSocketTlsTest, UpgradeOnRouteWithoutWebsocketIsPlainHttp) {
    // The Upgrade header is hop-by-hop: without websocket = true it is not forwarded, so the
    // backend sees a plain GET and answers 426; the connection stays plain HTTP.
    connection c(sluice.port);
    auto r = c.request("GET", "/nows", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"},
                                        {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}, {"Sec-WebSocket-Version", "13"}});
    EXPECT_EQ(r.status, 426u);
    EXPECT_EQ(c.request("GET", "/echo").status, 200u);  // not half-upgraded
}

TEST_F(WebSocketTlsTest, NonUpgradeAnswerIsRelayedAsHttp) {
    // websocket = true, but the upstream answers 404 (no such WebSocket path): plain HTTP.
    connection c(sluice.port);
    auto r = c.request("GET", "/ws-missing", {{"Connection", "Upgrade"}, {"Upgrade", "websocket"},
                                              {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="},
                                              {"Sec-WebSocket-Version", "13"}});
    EXPECT_NE(r.status, 101u);
    EXPECT_EQ(c.request("GET", "/echo").status, 200u);
}

TEST_F(WebSocketTlsTest, TunnelSurvivesReloadAndIsCounted) {
    child_process client("/usr/bin/python3", {ws_client, "slow", ws_url(), "--hold", "3"});
    ASSERT_TRUE(client.wait_for("ok sent=", std::chrono::seconds(30))) << client.output();
    auto metrics = get(admin, "/metrics").body;
    EXPECT_NE(metrics.find("sluice_websocket_sessions_active 1"), std::string::npos) << metrics;
    sluice.proc->signal(SIGHUP);
    ASSERT_TRUE(sluice.proc->wait_for("generation 2"));
    EXPECT_EQ(client.wait_exit(std::chrono::seconds(20)), 0) << client.output();
}

TEST_F(WebSocketTlsTest, SlowReaderDoesNotGrowMemory) {
    const long before = rss_kib(sluice.proc->pid());
    child_process client("/usr/bin/python3", {ws_client, "slow", ws_url(), "--hold", "2"});
    auto sent = client.wait_for(R"(ok sent=(\d+))", std::chrono::seconds(60));
    ASSERT_TRUE(sent) << client.output();
    const long after = rss_kib(sluice.proc->pid());
    // The client pushed many MiB it never reads back; sluice holds one 16 KiB buffer per
    // direction, so only the kernel's socket buffers absorb the rest.
    EXPECT_GE(std::stoi((*sent)[1]), 4) << "the client could not push enough to test backpressure";
    EXPECT_LT(after - before, 8 * 1024) << "RSS grew by " << (after - before) << " KiB";
    EXPECT_EQ(client.wait_exit(std::chrono::seconds(20)), 0);
}

TEST_F(WebSocketTlsTest, HttpsWithSniPicksCertificate) {
    auto [status, out] = run(curl_https("a.test", "/echo/tls") + " -D - -o /dev/null");
    EXPECT_EQ(status, 0) << out;
    EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
    auto [s2, body] = run(curl_https("b.test", "/echo/tls"));
    ASSERT_EQ(s2, 0) << body;
    const auto doc = json::parse(body).as_object();
    EXPECT_EQ(doc.at("headers").at("x-forwarded-proto").as_string(), "https");
    for (const std::string name : {"a.test", "b.test"}) {
        auto [st, cert] = run("openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) + " -servername " + name +
                              " </dev/null 2>/dev/null | openssl x509 -noout -subject");
        EXPECT_NE(cert.find("CN = " + name), std::string::npos) << name << ": " << cert;
    }
    auto [s3, alpn] = run("openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) +
                          " -servername a.test -alpn h2,http/1.1 </dev/null 2>&1");
    EXPECT_NE(alpn.find("ALPN protocol: http/1.1"), std::string::npos) << alpn;
    auto [s4, old] = run("openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) + " -tls1_1 </dev/null 2>&1");
    EXPECT_NE(old.find("Cipher is (NONE)"), std::string::npos) << "TLS 1.1 was accepted: " << old;
}

TEST_F(WebSocketTlsTest, SessionResumption) {
    const std::string sess = pki->dir + "/session-" + std::to_string(::getpid());
    const std::string base = "openssl s_client -connect 127.0.0.1:" + std::to_string(tls_port) +
                             " -servername a.test -tls1_2 </dev/null 2>&1";
    auto [s1, first] = run(base.substr(0, base.find(" </dev")) + " -sess_out " + sess + " </dev/null 2>&1");
    ASSERT_NE(first.find("New, TLSv1.2"), std::string::npos) << first;
    auto [s2, second] = run(base.substr(0, base.find(" </dev")) + " -sess_in " + sess + " </dev/null 2>&1");
    EXPECT_NE(second.find("Reused, TLSv1.2"), std::string::npos) << second;
}

TEST_F(WebSocketTlsTest, GarbageAndTruncatedHandshakesDoNotDisturbOthers) {
    connection plain(tls_port);
    plain.send_raw("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    auto parallel = std::async(std::launch::async, [&] { return run(curl_https("a.test", "/echo")); });
    EXPECT_TRUE(plain.closed_by_peer());
    connection truncated(tls_port);
    truncated.send_raw(std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11));  // start of a ClientHello
    auto [status, out] = parallel.get();
    EXPECT_EQ(status, 0) << out;
    EXPECT_EQ(std::get<0>(run(curl_https("b.test", "/echo"))), 0);
    const auto metrics = get(admin, "/metrics").body;
    EXPECT_NE(metrics.find(R"(sluice_tls_handshake_failures_total{listener="https"})"), std::string::npos);
}

TEST_F(WebSocketTlsTest, SecureWebSocket) {
    // No name resolution for a.test here: connect by IP, which the certificate lists as a SAN.
    auto [s2, out2] = run("/usr/bin/python3 " + ws_client + " messages wss://127.0.0.1:" + std::to_string(tls_port) +
                          "/ws --cafile " + pki->dir + "/ca.pem");
    EXPECT_EQ(s2, 0) << out2;
    EXPECT_NE(out2.find("ok messages=1000"), std::string::npos) << out2;
}

TEST_F(WebSocketTlsTest, ReloadsCloseNoTunnelAndFailNoRequest) {
    // Keep-alive HTTP load alongside the WebSocket sessions, for the whole run.
    std::atomic<bool> stop{false};
    std::atomic<int> ok{0}, failed{0};
    std::thread load([&] {
        try {
            connection c(sluice.port);
            while (!stop) (c.request("GET", "/echo").status == 200 ? ok : failed)++;
        } catch (const std::exception&) {
            failed++;
        }
    });
    std::vector<std::unique_ptr<child_process>> clients;
    for (int i = 0; i < 3; ++i) {
        clients.push_back(std::make_unique<child_process>(
            "/usr/bin/python3", std::vector<std::string>{ws_client, "steady", ws_url(), "--seconds", "4"}));
        ASSERT_TRUE(clients.back()->wait_for("ok open", std::chrono::seconds(20))) << clients.back()->output();
    }
    for (int i = 0; i < 20; ++i) {
        write_config(i % 2 == 0);
        sluice.proc->signal(SIGHUP);
        ASSERT_TRUE(sluice.proc->wait_for("generation " + std::to_string(i + 2)));
        const bool extra = get(sluice.port, "/extra").body == "extra";  // the new routes are in force
        EXPECT_EQ(extra, i % 2 == 0);
    }
    stop = true;
    load.join();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_GT(ok.load(), 20);
    for (auto& c : clients) {
        EXPECT_EQ(c->wait_exit(std::chrono::seconds(30)), 0) << c->output();
        EXPECT_NE(c->output().find("ok steady"), std::string::npos) << c->output();
    }
}

TEST_F(WebSocketTlsTest, DrainSendsGoingAwayToTunnels) {
    child_process client("/usr/bin/python3",
                         {ws_client, "steady", ws_url(), "--seconds", "25", "--expect-close", "1001"});
    ASSERT_TRUE(client.wait_for("ok open", std::chrono::seconds(20))) << client.output();
    sluice.proc->signal(SIGTERM);
    EXPECT_EQ(client.wait_exit(std::chrono::seconds(15)), 0) << client.output();
    EXPECT_NE(client.output().find("closed 1001"), std::string::npos) << client.output();
    // The close handshake ended the tunnel, so the drain finished long before drain_timeout (30 s).
    EXPECT_EQ(sluice.proc->wait_exit(std::chrono::seconds(10)), 0) << sluice.proc->output();
}

}  // namespace
}  // namespace sluice::test
