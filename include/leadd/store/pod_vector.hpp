#pragma once
// PodVector: a growable array of trivially copyable values that grows with realloc.
//
// Why not std::vector: the search index's arrays (posting lists, packed texts) only ever grow,
// to megabytes, and a std::vector grows by allocating a new block, copying every element into
// it and freeing the old one. The new block's pages are fresh, so each growth also costs a page
// fault per 4 KiB: with the index growing by a quarter at a time, every element was copied and
// faulted in about five times, a third of what indexing a new lead cost. A PodVector of
// `mapped_from_bytes` or more lives in pages of its own (mmap) and grows with mremap, which moves
// the pages it has instead of copying them; a smaller one lives on the heap and grows with
// realloc (in place when the memory after it is free).
//
// Only what the index uses: no insert in the middle, no copies (a move leaves the source empty).

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <new>
#include <type_traits>
#include <utility>

namespace leadd::store {

template <class T>
class PodVector {
    static_assert(std::is_trivially_copyable_v<T>, "elements are moved by realloc, byte for byte");

public:
    using value_type = T;
    using iterator = T*;
    using const_iterator = const T*;

    PodVector() = default;
    PodVector(const PodVector&) = delete;
    PodVector& operator=(const PodVector&) = delete;
    PodVector(PodVector&& other) noexcept
        : data_(std::exchange(other.data_, nullptr)),
          size_(std::exchange(other.size_, 0)),
          capacity_(std::exchange(other.capacity_, 0)) {}
    PodVector& operator=(PodVector&& other) noexcept {
        if (this != &other) {
            release();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
            capacity_ = std::exchange(other.capacity_, 0);
        }
        return *this;
    }
    ~PodVector() { release(); }

    static constexpr std::size_t mapped_from_bytes = 64 * 1024;

    std::size_t size() const { return size_; }
    std::size_t capacity() const { return capacity_; }
    bool empty() const { return size_ == 0; }
    T* data() { return data_; }
    const T* data() const { return data_; }
    T* begin() { return data_; }
    T* end() { return data_ + size_; }
    const T* begin() const { return data_; }
    const T* end() const { return data_ + size_; }
    T& operator[](std::size_t i) { return data_[i]; }
    const T& operator[](std::size_t i) const { return data_[i]; }
    T& back() { return data_[size_ - 1]; }
    const T& back() const { return data_[size_ - 1]; }

    // Exactly `wanted` elements of room (never less than size()); the caller picks the growth.
    void reserve(std::size_t wanted) {
        if (wanted > capacity_) reallocate(wanted);
    }
    void shrink_to_fit() {
        if (size_ == 0) {
            release();
            data_ = nullptr;
            capacity_ = 0;
        } else if (size_ < capacity_) {
            reallocate(size_);
        }
    }
    void clear() { size_ = 0; }
    // New elements are value-initialized (zero), like std::vector's.
    void resize(std::size_t count) {
        if (count > capacity_) reallocate(count);
        if (count > size_) std::memset(static_cast<void*>(data_ + size_), 0, (count - size_) * sizeof(T));
        size_ = count;
    }
    void push_back(const T& value) {
        if (size_ == capacity_) reallocate(capacity_ == 0 ? 4 : 2 * capacity_);
        data_[size_++] = value;
    }
    void append(const T* first, std::size_t count) {
        if (size_ + count > capacity_) reallocate(std::max(size_ + count, 2 * capacity_));
        if (count != 0) std::memcpy(static_cast<void*>(data_ + size_), first, count * sizeof(T));
        size_ += count;
    }

private:
    static bool mapped(std::size_t capacity) { return capacity * sizeof(T) >= mapped_from_bytes; }
    static std::size_t page_rounded(std::size_t bytes) {
        static const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
        return (bytes + page - 1) / page * page;
    }

    // Room for `capacity` elements (at least size_), keeping the first size_.
    void reallocate(std::size_t capacity) {
        void* moved = nullptr;
        if (mapped(capacity)) {
            const std::size_t bytes = page_rounded(capacity * sizeof(T));
            if (mapped(capacity_)) {
                moved = mremap(data_, page_rounded(capacity_ * sizeof(T)), bytes, MREMAP_MAYMOVE);
            } else {
                moved = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (moved != MAP_FAILED && size_ != 0) std::memcpy(moved, data_, size_ * sizeof(T));
                if (moved != MAP_FAILED) std::free(data_);
            }
            if (moved == MAP_FAILED) throw std::bad_alloc();
            capacity = bytes / sizeof(T);  // the rest of the last page is room too
        } else if (mapped(capacity_)) {
            moved = std::malloc(capacity * sizeof(T));
            if (moved == nullptr) throw std::bad_alloc();
            if (size_ != 0) std::memcpy(moved, data_, size_ * sizeof(T));
            munmap(data_, page_rounded(capacity_ * sizeof(T)));
        } else {
            moved = std::realloc(data_, capacity * sizeof(T));
            if (moved == nullptr) throw std::bad_alloc();
        }
        data_ = static_cast<T*>(moved);
        capacity_ = capacity;
    }
    void release() {
        if (mapped(capacity_)) munmap(data_, page_rounded(capacity_ * sizeof(T)));
        else std::free(data_);
    }

    T* data_ = nullptr;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

}  // namespace leadd::store
