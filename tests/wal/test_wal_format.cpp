// The log's record framing (format.hpp) and payload codec (codec.hpp).

#include "leadd/wal/codec.hpp"
#include "leadd/wal/format.hpp"

#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

using namespace leadd::wal;

namespace {

std::string bytes_of(std::initializer_list<int> bytes) {
    std::string s;
    for (int b : bytes) s.push_back(static_cast<char>(b));
    return s;
}

struct Expected {
    RecordType type;
    Seq seq;
    std::string payload;
};

}  // namespace

TEST_CASE("crc32c matches the Castagnoli check value and known vectors", "[wal][format]") {
    CHECK(crc32c("123456789") == 0xE3069283u);
    CHECK(crc32c("") == 0u);
    // RFC 3720 (iSCSI) B.4 test vectors.
    CHECK(crc32c(std::string(32, '\0')) == 0x8A9136AAu);
    CHECK(crc32c(std::string(32, '\xff')) == 0x62A8AB43u);
    std::string ascending, descending;
    for (int i = 0; i < 32; ++i) {
        ascending.push_back(static_cast<char>(i));
        descending.push_back(static_cast<char>(31 - i));
    }
    CHECK(crc32c(ascending) == 0x46DD794Eu);
    CHECK(crc32c(descending) == 0x113FDB5Cu);
}

TEST_CASE("crc32c gives the same answer for every length and alignment", "[wal][format]") {
    // The hardware path works 8 bytes at a time and finishes byte by byte: a prefix/suffix bug
    // would show up as a difference between slices of one buffer computed two ways.
    std::string data;
    std::mt19937 rng(7);
    for (int i = 0; i < 200; ++i) data.push_back(static_cast<char>(rng()));
    // Reference: bitwise CRC-32C (reflected polynomial 0x82F63B78).
    auto reference = [](std::string_view s) {
        std::uint32_t crc = 0xFFFFFFFFu;
        for (unsigned char c : s) {
            crc ^= c;
            for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
        }
        return crc ^ 0xFFFFFFFFu;
    };
    REQUIRE(reference("123456789") == 0xE3069283u);
    for (std::size_t start = 0; start < 9; ++start)
        for (std::size_t len = 0; start + len <= data.size(); len += 3) {
            INFO("start " << start << " length " << len);
            const std::string_view slice = std::string_view(data).substr(start, len);
            REQUIRE(crc32c(slice) == reference(slice));
        }
}

TEST_CASE("frame_record and RecordReader round-trip many records, empty payloads included", "[wal][format]") {
    std::mt19937 rng(42);
    std::vector<Expected> expected;
    std::string file;
    const RecordType types[] = {RecordType::LeadPut,   RecordType::LeadDelete, RecordType::WorkspaceCreate,
                                RecordType::KeyIssue,  RecordType::KeyRevoke,  RecordType::SnapshotHeader,
                                RecordType::SnapshotEnd};
    for (Seq seq = 1; seq <= 500; ++seq) {
        std::string payload;
        const std::size_t len = seq % 7 == 0 ? 0 : rng() % (seq % 50 == 0 ? 5000 : 300);
        for (std::size_t i = 0; i < len; ++i) payload.push_back(static_cast<char>(rng()));
        const RecordType type = types[rng() % 7];
        const std::size_t before = file.size();
        frame_record(file, type, seq * 3, payload);  // seqs need not be dense for the reader
        REQUIRE(file.size() - before == record_header_bytes + payload.size());
        expected.push_back({type, seq * 3, payload});
    }
    // Two records with an empty payload back to back, at the very end.
    frame_record(file, RecordType::KeyRevoke, 10000, "");
    frame_record(file, RecordType::LeadDelete, std::numeric_limits<Seq>::max(), "");
    expected.push_back({RecordType::KeyRevoke, 10000, ""});
    expected.push_back({RecordType::LeadDelete, std::numeric_limits<Seq>::max(), ""});

    RecordReader reader(file);
    std::size_t i = 0;
    std::size_t offset = 0;
    while (auto rec = reader.next()) {
        REQUIRE(i < expected.size());
        INFO("record " << i);
        CHECK(rec->type == expected[i].type);
        CHECK(rec->seq == expected[i].seq);
        CHECK(rec->payload == expected[i].payload);
        offset += record_header_bytes + expected[i].payload.size();
        CHECK(reader.offset() == offset);
        ++i;
    }
    CHECK(i == expected.size());
    CHECK(reader.stop() == RecordReader::Stop::CleanEnd);
    CHECK(reader.offset() == file.size());
    CHECK_FALSE(reader.next());  // stays stopped
    CHECK(reader.stop() == RecordReader::Stop::CleanEnd);
}

TEST_CASE("the frame is exactly crc | length | type | seq | payload, little-endian", "[wal][format]") {
    std::string file;
    frame_record(file, RecordType::KeyIssue, 0x0102030405060708ull, "abc");
    REQUIRE(file.size() == 17 + 3);
    CHECK(file.substr(4, 4) == bytes_of({3, 0, 0, 0}));
    CHECK(static_cast<unsigned char>(file[8]) == 4);
    CHECK(file.substr(9, 8) == bytes_of({8, 7, 6, 5, 4, 3, 2, 1}));
    CHECK(file.substr(17) == "abc");
    const std::uint32_t crc = crc32c(std::string_view(file).substr(4));
    CHECK(file.substr(0, 4) == bytes_of({static_cast<int>(crc & 0xff), static_cast<int>(crc >> 8 & 0xff),
                                          static_cast<int>(crc >> 16 & 0xff), static_cast<int>(crc >> 24)}));
}

TEST_CASE("RecordReader says where and why it stopped", "[wal][format]") {
    std::string file;
    frame_record(file, RecordType::LeadPut, 1, "first");
    const std::size_t second = file.size();
    frame_record(file, RecordType::LeadPut, 2, "second record");

    SECTION("empty input is a clean end at 0") {
        RecordReader reader("");
        CHECK_FALSE(reader.next());
        CHECK(reader.stop() == RecordReader::Stop::CleanEnd);
        CHECK(reader.offset() == 0);
    }
    SECTION("every cut inside the second record: Truncated at its start") {
        for (std::size_t len = second + 1; len < file.size(); ++len) {
            INFO("length " << len);
            RecordReader reader(std::string_view(file).substr(0, len));
            REQUIRE(reader.next());
            CHECK_FALSE(reader.next());
            CHECK(reader.stop() == RecordReader::Stop::Truncated);
            CHECK(reader.offset() == second);
        }
    }
    SECTION("every flipped bit of the second record is caught at its start") {
        for (std::size_t byte = second; byte < file.size(); ++byte)
            for (int bit = 0; bit < 8; ++bit) {
                std::string damaged = file;
                damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
                INFO("byte " << byte << " bit " << bit);
                RecordReader reader(damaged);
                REQUIRE(reader.next());
                CHECK_FALSE(reader.next());
                CHECK(reader.stop() != RecordReader::Stop::CleanEnd);
                CHECK(reader.stop() != RecordReader::Stop::None);
                CHECK(reader.offset() == second);
            }
    }
    SECTION("a length over the maximum is BadLength") {
        std::string damaged = file;
        damaged[second + 7] = '\x7f';  // length's top byte: ~2 GiB
        RecordReader reader(damaged);
        REQUIRE(reader.next());
        CHECK_FALSE(reader.next());
        CHECK(reader.stop() == RecordReader::Stop::BadLength);
        CHECK(reader.offset() == second);
    }
    SECTION("a well-checksummed record of an unknown type is BadType") {
        std::string bad;
        frame_record(bad, static_cast<RecordType>(static_cast<std::uint8_t>(RecordType::LastType) + 1), 3, "x");
        const std::string both = file + bad;
        RecordReader reader(both);
        REQUIRE(reader.next());
        REQUIRE(reader.next());
        CHECK_FALSE(reader.next());
        CHECK(reader.stop() == RecordReader::Stop::BadType);
        CHECK(reader.offset() == file.size());
    }
    SECTION("zero bytes after the records are not a record") {
        for (std::size_t zeros : {1u, 16u, 17u, 18u, 4096u}) {
            INFO(zeros << " zero bytes");
            const std::string padded = file + std::string(zeros, '\0');
            RecordReader reader(padded);
            REQUIRE(reader.next());
            REQUIRE(reader.next());
            CHECK_FALSE(reader.next());
            CHECK(reader.stop() != RecordReader::Stop::CleanEnd);
            CHECK(reader.offset() == file.size());
        }
    }
    CHECK(to_string(RecordReader::Stop::BadChecksum) != to_string(RecordReader::Stop::Truncated));
}

TEST_CASE("PayloadWriter/Reader varints: boundaries and exact encodings", "[wal][codec]") {
    const std::uint64_t values[] = {0,   1,   127, 128,     255,          16383, 16384, 1ull << 32,
                                    (1ull << 63) - 1, 1ull << 63, std::numeric_limits<std::uint64_t>::max()};
    PayloadWriter w;
    for (auto v : values) w.u64(v);
    PayloadReader r(w.bytes());
    for (auto v : values) {
        INFO("value " << v);
        CHECK(r.u64() == v);
        CHECK(r.ok());
    }
    CHECK(r.done());

    auto encoded = [](std::uint64_t v) {
        PayloadWriter one;
        one.u64(v);
        return one.bytes();
    };
    CHECK(encoded(0) == bytes_of({0x00}));
    CHECK(encoded(127) == bytes_of({0x7f}));
    CHECK(encoded(128) == bytes_of({0x80, 0x01}));
    CHECK(encoded(300) == bytes_of({0xac, 0x02}));
    CHECK(encoded(1ull << 63) == bytes_of({0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}));
    CHECK(encoded(std::numeric_limits<std::uint64_t>::max()).size() == 10);
}

TEST_CASE("PayloadWriter/Reader signed varints use zigzag", "[wal][codec]") {
    const std::int64_t values[] = {0, 1, -1, 2, -2, 63, -64, 64, -65, 1'700'000'000'000, -1'700'000'000'000,
                                   std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()};
    PayloadWriter w;
    for (auto v : values) w.i64(v);
    PayloadReader r(w.bytes());
    for (auto v : values) {
        INFO("value " << v);
        CHECK(r.i64() == v);
    }
    CHECK(r.done());

    auto encoded = [](std::int64_t v) {
        PayloadWriter one;
        one.i64(v);
        return one.bytes();
    };
    // Zigzag: 0→0, -1→1, 1→2, -2→3, -64→127 (one byte), 64→128 (two bytes).
    CHECK(encoded(0) == bytes_of({0}));
    CHECK(encoded(-1) == bytes_of({1}));
    CHECK(encoded(1) == bytes_of({2}));
    CHECK(encoded(-2) == bytes_of({3}));
    CHECK(encoded(-64) == bytes_of({0x7f}));
    CHECK(encoded(64) == bytes_of({0x80, 0x01}));
}

TEST_CASE("PayloadWriter/Reader strings and bytes, empty and binary", "[wal][codec]") {
    std::string binary;
    for (int i = 0; i < 256; ++i) binary.push_back(static_cast<char>(i));
    const std::string big(100000, 'z');
    PayloadWriter w;
    w.str("");
    w.str("hello");
    w.byte(0);
    w.byte(255);
    w.str(binary);
    w.str(big);
    w.u64(7);
    PayloadReader r(w.bytes());
    CHECK(r.str() == "");
    CHECK(r.str() == "hello");
    CHECK(r.byte() == 0);
    CHECK(r.byte() == 255);
    CHECK(r.str() == binary);
    CHECK(r.str() == big);
    CHECK(r.u64() == 7);
    CHECK(r.done());
}

TEST_CASE("PayloadReader rejects every truncation of a payload", "[wal][codec]") {
    PayloadWriter w;
    w.u64(1ull << 40);
    w.i64(-123456789);
    w.str("some name");
    w.byte(3);
    w.str(std::string(200, 'm'));
    w.u64(std::numeric_limits<std::uint64_t>::max());
    const std::string full = w.bytes();

    auto read_all = [](std::string_view in) {
        PayloadReader r(in);
        r.u64();
        r.i64();
        r.str();
        r.byte();
        r.str();
        r.u64();
        return r;
    };
    REQUIRE(read_all(full).done());
    for (std::size_t len = 0; len < full.size(); ++len) {
        INFO("length " << len << " of " << full.size());
        const auto r = read_all(std::string_view(full).substr(0, len));
        CHECK_FALSE(r.done());
        CHECK_FALSE(r.ok());
    }
}

TEST_CASE("PayloadReader: trailing bytes, overlong strings and endless varints are not done()", "[wal][codec]") {
    SECTION("an unread trailing byte") {
        PayloadWriter w;
        w.u64(5);
        w.byte(1);
        PayloadReader r(w.bytes());
        CHECK(r.u64() == 5);
        CHECK(r.ok());
        CHECK_FALSE(r.done());
    }
    SECTION("a string length beyond the input") {
        PayloadWriter w;
        w.u64(1000);
        w.bytes() += "short";
        PayloadReader r(w.bytes());
        CHECK(r.str().empty());
        CHECK_FALSE(r.ok());
        CHECK_FALSE(r.done());
    }
    SECTION("a string length near 2^64 does not wrap around") {
        PayloadWriter w;
        w.u64(std::numeric_limits<std::uint64_t>::max());
        w.bytes() += "abc";
        PayloadReader r(w.bytes());
        CHECK(r.str().empty());
        CHECK_FALSE(r.ok());
    }
    SECTION("a varint whose continuation bit never ends") {
        const std::string endless(11, '\x80');
        PayloadReader r(endless);
        r.u64();
        CHECK_FALSE(r.ok());
        CHECK_FALSE(r.done());
    }
    SECTION("a varint longer than 10 bytes") {
        std::string eleven(10, '\x81');
        eleven.push_back('\x01');
        PayloadReader r(eleven);
        r.u64();
        CHECK_FALSE(r.ok());
    }
    SECTION("reads after a failure keep failing and return nothing") {
        PayloadReader r(std::string_view("\x80", 1));
        CHECK(r.u64() == 0);
        CHECK(r.byte() == 0);
        CHECK(r.str().empty());
        CHECK_FALSE(r.ok());
    }
}

TEST_CASE("PayloadReader rejects a 10-byte varint whose last byte overflows 64 bits", "[wal][codec]") {
    // The 10th byte of a u64 varint carries only bit 63: anything above 1 there encodes a value
    // that does not fit. codec.hpp promises "a malformed payload makes ok() false".
    std::string overflowing(9, '\xff');
    overflowing.push_back('\x7f');
    PayloadReader r(overflowing);
    const auto v = r.u64();
    INFO("decoded as " << v);
    CHECK_FALSE(r.ok());
}
