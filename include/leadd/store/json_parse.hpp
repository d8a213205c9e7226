#pragma once
// JSON text to a value, with numbers exactly as written: boost::json::parse, except that each
// number with a fraction or an exponent becomes the double nearest to its text, and a number
// too large for a double (1e400) is an error (exponent_overflow), not infinity.
//
// Why: Boost.JSON 1.81's parser rounds some of those off by an ulp (e.g. 1.2345678901234567e89),
// while its serializer writes the shortest text that names the double exactly. So metadata went
// through serialize + parse (the log record of every write, replayed at each start; a client
// sending back what GET showed) and came out a different number: replay did not rebuild the
// state clients saw. And infinity serializes as `Infinity`, which is not JSON: a lead holding
// one was answered with an invalid body, and its log record could not be read back, so the
// server refused to start. Both found by fuzzing. (Boost 1.83 parses exactly by itself, with
// parse_options::numbers.)

#include <boost/json/parse_options.hpp>
#include <boost/json/storage_ptr.hpp>
#include <boost/json/value.hpp>

#include <string_view>

namespace leadd::store {

boost::json::value parse_json(std::string_view text, boost::system::error_code& ec,
                              boost::json::storage_ptr storage = {},
                              const boost::json::parse_options& options = {});

}  // namespace leadd::store
