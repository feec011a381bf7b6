#pragma once
// How one attempt at an upstream server ended, as the outlier detector and the retry policy
// see it. The caller maps its errors here: connect refused/unreachable/timed out while
// connecting -> connect_failure; no response head within timeouts.response -> timeout;
// connection closed or reset before a complete response head -> reset; a response -> its status.

namespace sluice::upstream {

struct outcome {
    enum class kind { response, connect_failure, timeout, reset };
    kind type = kind::response;
    unsigned status = 0;  // kind::response only

    static outcome response(unsigned status) { return {kind::response, status}; }
    static outcome connect_failure() { return {kind::connect_failure, 0}; }
    static outcome timeout() { return {kind::timeout, 0}; }
    static outcome reset() { return {kind::reset, 0}; }

    // A failure for outlier detection: anything but a response below 500.
    bool failure() const { return type != kind::response || status >= 500; }
};

}  // namespace sluice::upstream
