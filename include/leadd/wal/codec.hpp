#pragma once
// Compact binary payloads for log records: LEB128 varints, length-prefixed strings. The reader
// never reads past its input; a malformed payload makes ok() false instead.

#include <cstdint>
#include <string>
#include <string_view>

namespace leadd::wal {

class PayloadWriter {
public:
    void u64(std::uint64_t v) {
        // Made in a local buffer and appended once: a push_back per byte (ten for a lead id)
        // checks the capacity and writes a terminator each time.
        char bytes[10];
        std::size_t n = 0;
        while (v >= 0x80) {
            bytes[n++] = static_cast<char>(v | 0x80);
            v >>= 7;
        }
        bytes[n++] = static_cast<char>(v);
        out_.append(bytes, n);
    }
    void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v) << 1 ^ static_cast<std::uint64_t>(v >> 63)); }
    void str(std::string_view s) {
        u64(s.size());
        out_.append(s);
    }
    void byte(std::uint8_t b) { out_.push_back(static_cast<char>(b)); }
    std::string& bytes() { return out_; }

private:
    std::string out_;
};

class PayloadReader {
public:
    explicit PayloadReader(std::string_view in) : in_(in) {}

    std::uint64_t u64() {
        std::uint64_t v = 0;
        for (int shift = 0; shift < 64; shift += 7) {
            if (pos_ >= in_.size()) return fail();
            const auto b = static_cast<unsigned char>(in_[pos_++]);
            // The tenth byte holds bit 63 only: anything more would overflow 64 bits.
            if (shift == 63 && b > 1) return fail();
            v |= static_cast<std::uint64_t>(b & 0x7f) << shift;
            if (!(b & 0x80)) return v;
        }
        return fail();
    }
    std::int64_t i64() {
        const std::uint64_t z = u64();
        return static_cast<std::int64_t>(z >> 1 ^ (~(z & 1) + 1));
    }
    std::string_view str() {
        const std::uint64_t n = u64();
        if (!ok_ || n > in_.size() - pos_) {
            fail();
            return {};
        }
        const auto s = in_.substr(pos_, n);
        pos_ += n;
        return s;
    }
    std::uint8_t byte() {
        if (pos_ >= in_.size()) return static_cast<std::uint8_t>(fail());
        return static_cast<std::uint8_t>(in_[pos_++]);
    }
    // True when everything read was well-formed and the input is used up exactly.
    bool done() const { return ok_ && pos_ == in_.size(); }
    bool ok() const { return ok_; }

private:
    std::uint64_t fail() {
        ok_ = false;
        pos_ = in_.size();
        return 0;
    }
    std::string_view in_;
    std::size_t pos_ = 0;
    bool ok_ = true;
};

}  // namespace leadd::wal
