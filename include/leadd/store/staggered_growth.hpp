#pragma once
// Growth of many alike hash tables (the store's shards' id maps, its stripes' email maps) spread
// out over time instead of falling on the same few requests.
//
// Ids and email hashes spread evenly, so every shard and every stripe fills at the same pace.
// Grown only when full, the 64 shard maps and the 64 email stripes reached their growth together
// (at ~1.7M and ~3.4M leads): their rehashes, 5-17 ms each, fell on creates within 50 000-70 000
// of each other, one every few hundred creates (load/README.md, "Growing past a million").

#include <cstddef>

namespace leadd::store {

// Makes room for one more entry in table `index` of `count` alike tables, early by a margin of
// its own: table `index` grows once it holds its share, between three quarters and all, of its
// max load (the first table at 3/4, the last just before full). The growth is the one the table
// would make anyway, to the same capacity, only a little earlier; one size's growths spread over
// the last quarter of that size's fill, and each table's memory doubles up to a quarter of a
// fill before it would have. Call before each insert, with the table's lock held.
// `Map`: boost::unordered_flat_map or LeadTable (max_load(), size(), reserve()).
template <class Map>
void make_room_staggered(Map& map, std::size_t index, std::size_t count) {
    const std::size_t max_load = map.max_load();
    const std::size_t margin = max_load / 4 * (count - index) / count;
    if (map.size() >= max_load - margin) map.reserve(max_load + 1);
}

}  // namespace leadd::store
