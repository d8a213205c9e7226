#pragma once
// Result<T>: a value or a StoreError. The store reports every refusal through it; nothing
// throws across the store boundary.

#include "leadd/store/lead.hpp"

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace leadd::store {

enum class StoreErrc {
    LeadNotFound,        // no such lead in this workspace
    DuplicateEmail,      // existing_lead names the holder of the email
    PreconditionFailed,  // If-Match did not match the lead's version
    ImmutableField,      // field names id/createdAt/workspaceId sent with another value
    MetadataTooLarge,    // the merged metadata would exceed the size limit
    Unavailable,         // the log cannot be written: nothing was changed
};

struct StoreError {
    StoreErrc code;
    LeadId existing_lead = 0;
    std::string field;
};

template <class T>
class Result {
public:
    Result(T value) : v_(std::move(value)) {}
    Result(StoreError error) : v_(std::move(error)) {}

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }
    const T& value() const { assert(ok()); return std::get<0>(v_); }
    T& value() { assert(ok()); return std::get<0>(v_); }
    const StoreError& error() const { assert(!ok()); return std::get<1>(v_); }

private:
    std::variant<T, StoreError> v_;
};

}  // namespace leadd::store
