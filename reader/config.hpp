// What the reader module takes from the daemon's config: which PC/SC reader
// serves which payment window, the card profile, and the waits it may make.
#pragma once

#include "reader/part10.hpp"
#include "reader/profile.hpp"

#include <chrono>
#include <map>
#include <string>

namespace settle::reader {

struct ReaderConfig {
  // window name -> PC/SC reader name exactly as pcsc_scan shows it.
  std::map<std::string, std::string> window_readers;
  const CardProfile* profile = &kDefaultProfile;
  // Upper bound for card.read's timeout_ms (a caller may ask for less).
  std::chrono::milliseconds max_card_wait{60'000};
  // How long an operation waits for another one on the same reader.
  std::chrono::milliseconds reader_lock_wait{30'000};
  // After a failed transmit, how long to wait for pcscd to notice a pulled
  // card (it polls vpcd and many readers about every 400 ms).
  std::chrono::milliseconds removal_settle{700};
  PinPadParams pinpad;
};

}  // namespace settle::reader
