#include "redis/script.hpp"

#include <openssl/evp.h>

#include <stdexcept>

namespace sluice::redis {

script::script(std::string source) : source_(std::move(source)) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(source_.data(), source_.size(), md, &len, EVP_sha1(), nullptr) != 1)
        throw std::runtime_error("redis::script: SHA1 failed");
    static constexpr char hex[] = "0123456789abcdef";
    sha1_.reserve(2 * len);
    for (unsigned i = 0; i < len; ++i) {
        sha1_.push_back(hex[md[i] >> 4]);
        sha1_.push_back(hex[md[i] & 0xf]);
    }
}

}  // namespace sluice::redis
