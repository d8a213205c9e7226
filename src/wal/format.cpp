#include "leadd/wal/format.hpp"

#include <boost/crc.hpp>

#include <cstring>

namespace leadd::wal {

namespace {

void put_u32(std::string& out, std::uint32_t v) {
    char b[4];
    for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out.append(b, 4);
}
void put_u64(std::string& out, std::uint64_t v) {
    char b[8];
    for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
    out.append(b, 8);
}
std::uint64_t get_le(const char* p, int n) {
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(p[i]);
    return v;
}

}  // namespace

namespace {

std::uint32_t crc32c_portable(std::string_view data) {
    boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> c;
    c.process_bytes(data.data(), data.size());
    return c.checksum();
}

#if defined(__x86_64__)
// SSE4.2's crc32 instruction computes exactly CRC-32C, 8 bytes per instruction: recovery reads
// every byte of the snapshot and the log through here.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(std::string_view data) {
    std::uint64_t crc = 0xFFFFFFFF;
    const char* p = data.data();
    std::size_t n = data.size();
    for (; n >= 8; p += 8, n -= 8) {
        std::uint64_t word;
        std::memcpy(&word, p, 8);
        crc = __builtin_ia32_crc32di(crc, word);
    }
    auto crc32 = static_cast<std::uint32_t>(crc);
    for (; n > 0; ++p, --n) crc32 = __builtin_ia32_crc32qi(crc32, static_cast<unsigned char>(*p));
    return crc32 ^ 0xFFFFFFFF;
}
#endif

}  // namespace

std::uint32_t crc32c(std::string_view data) {
#if defined(__x86_64__)
    static const bool hardware = __builtin_cpu_supports("sse4.2");
    if (hardware) return crc32c_sse42(data);
#endif
    return crc32c_portable(data);
}

void frame_record(std::string& out, RecordType type, Seq seq, std::string_view payload) {
    const std::size_t start = out.size();
    put_u32(out, 0);  // crc, filled below
    put_u32(out, static_cast<std::uint32_t>(payload.size()));
    out.push_back(static_cast<char>(type));
    put_u64(out, seq);
    out.append(payload);
    const std::uint32_t crc = crc32c(std::string_view(out).substr(start + 4));
    for (int i = 0; i < 4; ++i) out[start + i] = static_cast<char>(crc >> (8 * i));
}

RecordHeader read_record_header(const char* p) {
    return {static_cast<std::uint32_t>(get_le(p, 4)), static_cast<std::uint32_t>(get_le(p + 4, 4)),
            static_cast<std::uint8_t>(p[8]), get_le(p + 9, 8)};
}

std::optional<RecordView> RecordReader::next() {
    if (stop_ != Stop::None) return std::nullopt;
    const std::size_t left = data_.size() - offset_;
    if (left == 0) {
        stop_ = Stop::CleanEnd;
        return std::nullopt;
    }
    if (left < record_header_bytes) {
        stop_ = Stop::Truncated;
        return std::nullopt;
    }
    const char* p = data_.data() + offset_;
    const auto [crc, length, type, seq] = read_record_header(p);
    if (length > max_record_payload) {
        stop_ = Stop::BadLength;
        return std::nullopt;
    }
    if (left < record_header_bytes + length) {
        stop_ = Stop::Truncated;
        return std::nullopt;
    }
    if (crc32c(std::string_view(p + 4, record_header_bytes - 4 + length)) != crc) {
        stop_ = Stop::BadChecksum;
        return std::nullopt;
    }
    if (type < 1 || type > static_cast<std::uint8_t>(RecordType::LastType)) {
        stop_ = Stop::BadType;
        return std::nullopt;
    }
    RecordView view{static_cast<RecordType>(type), seq, std::string_view(p + record_header_bytes, length)};
    offset_ += record_header_bytes + length;
    return view;
}

std::string_view to_string(RecordReader::Stop stop) {
    switch (stop) {
    case RecordReader::Stop::None: return "not stopped";
    case RecordReader::Stop::CleanEnd: return "clean end";
    case RecordReader::Stop::Truncated: return "record cut short by the end of the file";
    case RecordReader::Stop::BadChecksum: return "checksum mismatch";
    case RecordReader::Stop::BadLength: return "impossible record length";
    case RecordReader::Stop::BadType: return "unknown record type";
    }
    return "?";
}

}  // namespace leadd::wal
