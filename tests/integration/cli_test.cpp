// The sluice command line and signals: config validation, version, reload, drain.

#include "fixture.hpp"

#include <csignal>
#include <fstream>

namespace sluice::test {
namespace {

std::string write_temp(const std::string& name, const std::string& text) {
    const std::string path = "/tmp/sluice-cli-" + std::to_string(::getpid()) + "-" + name;
    std::ofstream(path) << text;
    return path;
}

TEST(CliTest, ValidateGoodConfigExitsZero) {
    child_process p(bin_dir() + "/sluice", {"-t", "-c", std::string(SLUICE_SOURCE_DIR) + "/conf/sluice.toml"});
    EXPECT_EQ(p.wait_exit(std::chrono::seconds(10)), 0);
    EXPECT_NE(p.output().find("is valid"), std::string::npos);
}

TEST(CliTest, ValidateBadConfigPrintsFileLineColumn) {
    const auto path = write_temp("bad.toml", "[server]\nworkers = 1\nheader_timeout = \"ten\"\n\n"
                                             "[[listener]]\nname = \"http\"\nlisten = \"127.0.0.1\"\n");
    child_process p(bin_dir() + "/sluice", {"-t", "-c", path});
    EXPECT_EQ(p.wait_exit(std::chrono::seconds(10)), 1);
    const auto out = p.output();
    EXPECT_NE(out.find(path + ":3:18:"), std::string::npos) << out;
    EXPECT_NE(out.find(path + ":7:10:"), std::string::npos) << out;
}

TEST(CliTest, VersionPrints) {
    child_process p(bin_dir() + "/sluice", {"--version"});
    EXPECT_EQ(p.wait_exit(std::chrono::seconds(10)), 0);
    EXPECT_NE(p.output().find("sluice "), std::string::npos);
}

TEST(CliTest, SighupReloadsRoutesAndBadConfigKeepsOld) {
    auto p = start_sluice(server_block() + R"(
[[route]]
match = { path_exact = "/v" }
direct_response = { status = 200, body = "one" }
)");
    EXPECT_EQ(get(p.port, "/v").body, "one");
    {
        std::ofstream(p.config_path) << "[server]\nworkers = 1\n[[listener]]\nname = \"http\"\nlisten = \"127.0.0.1:0\"\n"
                                        "[[route]]\nmatch = { path_exact = \"/v\" }\n"
                                        "direct_response = { status = 200, body = \"two\" }\n";
    }
    p.proc->signal(SIGHUP);
    ASSERT_TRUE(p.proc->wait_for("generation 2"));
    EXPECT_EQ(get(p.port, "/v").body, "two");

    std::ofstream(p.config_path) << "[server]\nworkers = \"many\"\n";
    p.proc->signal(SIGHUP);
    ASSERT_TRUE(p.proc->wait_for("reload failed"));
    EXPECT_EQ(get(p.port, "/v").body, "two");
}

TEST(CliTest, SigtermExitsZero) {
    auto p = start_sluice(server_block() + "[[route]]\ndirect_response = { status = 204 }\n");
    EXPECT_EQ(get(p.port, "/").status, 204u);
    p.proc->signal(SIGTERM);
    EXPECT_EQ(p.proc->wait_exit(std::chrono::seconds(10)), 0);
}

}  // namespace
}  // namespace sluice::test
