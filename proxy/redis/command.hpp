#pragma once
// A Redis command as its arguments ("SET", key, value); the views must stay valid until the call
// that takes them returns. Encoded to RESP by hiredis's formatter.

#include <string>
#include <string_view>
#include <vector>

namespace sluice::redis {

using command = std::vector<std::string_view>;

// Appends the RESP encoding of `args` (binary-safe) to `out`; false when `args` is empty.
bool append_command(std::string& out, const command& args);

}  // namespace sluice::redis
