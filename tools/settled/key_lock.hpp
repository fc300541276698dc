// KeyLock: one request per key at a time (a settlement being refunded, a stay
// being changed, a card being admitted), for the daemon's single io thread:
// the key is taken for the guard's life, or not at all if another holds it.
#pragma once

#include <set>
#include <utility>

namespace settle::daemon {

template <class Key>
class KeyLock {
 public:
  KeyLock(std::set<Key>& busy, Key key) : busy_(busy), key_(std::move(key)) { taken_ = busy_.insert(key_).second; }
  ~KeyLock() {
    if (taken_) busy_.erase(key_);
  }
  KeyLock(const KeyLock&) = delete;
  KeyLock& operator=(const KeyLock&) = delete;
  // False: another request holds the key; the caller answers "in progress".
  bool taken() const { return taken_; }

 private:
  std::set<Key>& busy_;
  Key key_;
  bool taken_ = false;
};

}  // namespace settle::daemon
