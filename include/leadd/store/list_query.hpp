#pragma once
// What a listing asks for and what it answers: the contract between the list API and the store's
// listing index (workspace_index.hpp). Kept apart from lead_store.hpp so the index, which the
// store holds, can use it.

#include "leadd/store/lead.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace leadd::store {

// How a listing is ordered. Ties (equal times, equal names) are broken by id in the same
// direction, so every order is total and a position in it is exact.
enum class SortField : std::uint8_t { CreatedAt, UpdatedAt, Name };
enum class SortOrder : std::uint8_t { Desc, Asc };

// A place in one order: the sort key of a lead. A cursor carries the position of the last lead
// a page showed; the next page starts strictly after it, whether or not that lead still exists.
struct ListPosition {
    Millis time = 0;   // sort=createdAt / updatedAt: the lead's createdAt / updatedAt
    std::string name;  // sort=name: the lead's name, ASCII-lower-cased (name order ignores case)
    LeadId id = 0;
    bool operator==(const ListPosition&) const = default;
};

struct ListQuery {
    std::size_t page = 1;  // 1-based; ignored when `after` is set
    std::size_t limit = 10;
    std::optional<Status> status;
    std::optional<std::string> source;  // exact, case-sensitive
    std::optional<std::string> search;  // case-insensitive (ASCII) substring of name or email
    SortField sort = SortField::CreatedAt;
    SortOrder order = SortOrder::Desc;
    // Exclusive bounds, for incremental sync.
    std::optional<Millis> created_after;
    std::optional<Millis> created_before;
    std::optional<Millis> updated_after;
    std::optional<ListPosition> after;  // cursor pagination: the page starts after this position
};

struct ListPage {
    std::vector<LeadPtr> leads;
    std::size_t total = 0;   // leads matching the filters, over all pages (a cursor does not narrow it)
    std::size_t before = 0;  // matching leads ahead of the first one returned (offset, or a cursor's rank)
    bool more = false;       // matching leads exist after the last one returned
};

// The position of `lead` in the `sort` order (what a cursor after it carries).
ListPosition position_of(const Lead& lead, SortField sort);

}  // namespace leadd::store
