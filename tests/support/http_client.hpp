#pragma once
// A small synchronous HTTP/1.1 client over real sockets for integration tests (Beast), plus
// raw-socket helpers for requests a well-behaved client would never send.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sluice::test {

struct response {
    unsigned status = 0;
    std::map<std::string, std::string> headers;  // lower-case names; repeated ones joined by ", "
    std::string body;
    bool keep_alive = false;
    bool chunked = false;
    std::string header(const std::string& lower_name) const {
        auto it = headers.find(lower_name);
        return it == headers.end() ? std::string() : it->second;
    }
};

using header_list = std::vector<std::pair<std::string, std::string>>;

// One keep-alive connection to 127.0.0.1:port.
class connection {
public:
    explicit connection(unsigned short port, std::chrono::milliseconds timeout = std::chrono::seconds(10));
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    response request(const std::string& method, const std::string& target, const header_list& headers = {},
                     const std::string& body = {});
    // Writes raw bytes as they are.
    void send_raw(const std::string& bytes);
    // Reads one response (after send_raw).
    response read_response(bool head_request = false);
    // Reads until the peer closes or the timeout; returns what arrived.
    std::string read_until_close();
    // True when the peer closed the connection (EOF) within the timeout.
    bool closed_by_peer();
    int native_handle();

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

// One request on a fresh connection.
response request(unsigned short port, const std::string& method, const std::string& target,
                 const header_list& headers = {}, const std::string& body = {});
inline response get(unsigned short port, const std::string& target, const header_list& headers = {}) {
    return request(port, "GET", target, headers);
}

}  // namespace sluice::test
