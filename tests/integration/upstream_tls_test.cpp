// TLS to upstreams (issue 7): sluice "front" (plain listener) forwards to sluice "back" (TLS
// listener with SNI certificates made by the test fixture), which forwards to sluice-echo.
// Verification against a CA file, by IP SAN and by name, SNI, an untrusted CA, verify = false,
// keep-alive reuse of TLS connections, and health checks that go through TLS too.

#include "fixture.hpp"

#include <boost/json.hpp>

#include <thread>

namespace sluice::test {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class UpstreamTlsTest : public pki_test {
protected:
    void SetUp() override {
        echo = start_backend("echo", "echo-1");
        back = start_sluice(
            "[server]\nworkers = 1\naccess_log = \"off\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n"
            "[[listener]]\nname = \"https\"\nlisten = \"LISTEN\"\n"
            "tls = { certs = [ { names = [\"a.test\"], cert = \"" + pki->dir + "/a.pem\", key = \"" + pki->dir +
            "/a.key\" }, { names = [\"b.test\"], cert = \"" + pki->dir + "/b.pem\", key = \"" + pki->dir +
            "/b.key\" } ] }\n\n" + upstream_block("echo", {{&echo, 1}}) +
            "[[route]]\nmatch = { path_prefix = \"/\" }\nupstream = \"echo\"\n");
        back_admin = admin_port(back);
    }

    // Starts the front proxy with `tls_value` as the upstream's tls setting (and `extra` lines).
    void start_front(const std::string& tls_value, const std::string& extra = {}) {
        front = start_sluice("[server]\nworkers = 1\naccess_log = \"off\"\n\n[admin]\nlisten = \"127.0.0.1:0\"\n\n"
                             "[[listener]]\nname = \"http\"\nlisten = \"LISTEN\"\n\n"
                             "[[upstream]]\nname = \"secure\"\nservers = [ { address = \"127.0.0.1:" +
                             std::to_string(back.port) + "\" } ]\ntls = " + tls_value + "\n" + extra +
                             "\n[[route]]\nmatch = { path_prefix = \"/\" }\nupstream = \"secure\"\n");
        front_admin = admin_port(front);
    }

    std::string ca(const std::string& file = "ca.pem") const { return "\"" + pki->dir + "/" + file + "\""; }

    // TLS connections the back proxy accepted so far.
    double back_tls_connections() {
        return sample(get(back_admin, "/metrics").body, R"(sluice_connections_total{listener="https"})");
    }

    backend echo;
    proxy back;
    proxy front;
    unsigned short back_admin = 0;
    unsigned short front_admin = 0;
};


std::string header_seen_by_echo(const response& r, const std::string& name) {
    const json::value doc = json::parse(r.body);
    const auto* v = doc.at("headers").as_object().if_contains(name);
    return v ? std::string(v->as_string()) : std::string();
}

TEST_F(UpstreamTlsTest, VerifiedAgainstCaFileByIpAddress) {
    start_front("{ ca_file = " + ca() + " }");
    const auto r = get(front.port, "/echo");
    ASSERT_EQ(r.status, 200u) << r.body;
    // The back proxy terminated TLS: it tells the echo backend the hop was https.
    EXPECT_EQ(header_seen_by_echo(r, "x-forwarded-proto"), "https");
    EXPECT_EQ(r.header("x-backend"), "echo-1");
}

TEST_F(UpstreamTlsTest, SniSelectsTheCertificateAndItsNameIsVerified) {
    // Without SNI the back proxy would present its default (a.test) certificate and the
    // b.test name check would fail: a 200 here means SNI went out and the name matched.
    start_front("{ ca_file = " + ca() + ", server_name = \"b.test\" }");
    EXPECT_EQ(get(front.port, "/echo").status, 200u);
}

TEST_F(UpstreamTlsTest, NameMismatchIs502) {
    start_front("{ ca_file = " + ca() + ", server_name = \"c.test\" }");
    const auto r = get(front.port, "/echo");
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(json::parse(r.body).at("error").as_string(), "upstream_tls_failed");
    EXPECT_TRUE(front.proc->wait_for("upstream TLS handshake with 127\\.0\\.0\\.1:\\d+ \\(c\\.test\\) failed"));
}

TEST_F(UpstreamTlsTest, UntrustedCertificateIs502AndCounted) {
    start_front("{ ca_file = " + ca("other-ca.pem") + " }");
    const auto r = get(front.port, "/echo");
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(json::parse(r.body).at("error").as_string(), "upstream_tls_failed");
    double failures = -1;
    for (auto deadline = std::chrono::steady_clock::now() + 5s; std::chrono::steady_clock::now() < deadline;) {
        failures = sample(get(front_admin, "/metrics").body,
                          "sluice_upstream_requests_total{outcome=\"tls_failure\",server=\"127.0.0.1:" +
                              std::to_string(back.port) + "\",upstream=\"secure\"}");
        if (failures >= 1) break;
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_GE(failures, 1);
}

TEST_F(UpstreamTlsTest, VerifyOffAcceptsAnyCertificate) {
    start_front("{ verify = false }");
    EXPECT_EQ(get(front.port, "/echo").status, 200u);
}

TEST_F(UpstreamTlsTest, PlainTlsTrueUsesTheSystemTrustStore) {
    // The test CA is not in the system store: the handshake must fail, not fall back to plain.
    start_front("true");
    EXPECT_EQ(get(front.port, "/echo").status, 502u);
}

TEST_F(UpstreamTlsTest, KeepAliveReusesOneTlsConnection) {
    start_front("{ ca_file = " + ca() + " }");
    for (int i = 0; i < 10; ++i) ASSERT_EQ(get(front.port, "/echo").status, 200u);
    // Ten requests from ten client connections, one TLS connection upstream (one worker).
    EXPECT_EQ(back_tls_connections(), 1);
}

TEST_F(UpstreamTlsTest, HealthChecksGoThroughTls) {
    // A plaintext health check against the TLS port would fail and mark the server down.
    start_front("{ ca_file = " + ca() + " }",
                "health_check = { path = \"/echo\", interval = \"200ms\", timeout = \"200ms\", unhealthy = 1, healthy = 1 }");
    const double before = back_tls_connections();
    for (auto deadline = std::chrono::steady_clock::now() + 10s;
         back_tls_connections() < before + 3 && std::chrono::steady_clock::now() < deadline;)
        std::this_thread::sleep_for(20ms);
    EXPECT_GE(back_tls_connections(), before + 3);  // checks ran, each on its own TLS connection
    const auto series = "sluice_upstream_healthy{server=\"127.0.0.1:" + std::to_string(back.port) +
                        "\",upstream=\"secure\"}";
    EXPECT_EQ(sample(get(front_admin, "/metrics").body, series), 1);
    EXPECT_EQ(get(front.port, "/echo").status, 200u);
    EXPECT_FALSE(front.proc->output().find("is unhealthy") != std::string::npos) << front.proc->output();
}

}  // namespace
}  // namespace sluice::test
