#ifndef TRIPTYCH_RUNTIME_SAMPLING_STOP_MATCHER_H_
#define TRIPTYCH_RUNTIME_SAMPLING_STOP_MATCHER_H_

#include <string>
#include <string_view>
#include <vector>

namespace triptych::sampling {

// Finds OpenAI-style stop strings in streamed, detokenized text.
//
// Feed each new text piece to Consume(). It returns the text that is safe to
// stream to the client now: everything except a trailing part that could
// still become a stop string, which is held back until later pieces decide.
// When a stop string completes, the text before it is returned, the stop
// string itself and anything after it are dropped, and the matcher is done
// (later Consume() calls return nothing). When generation ends for another
// reason, Flush() returns the held-back text.
//
// If several stop strings match, the one that starts earliest wins (so the
// least text is emitted); at equal starts, the earliest listed. Matching is
// on bytes; stop strings that are valid UTF-8 never split a UTF-8 character
// of valid input. Empty stop strings are ignored.
//
// Per piece the cost is O(held + piece) * total stop length; the held text is
// shorter than the longest stop string.
//
// Not thread-safe; one per sequence.
class StopMatcher {
 public:
  struct Result {
    // Text to emit now (possibly empty).
    std::string text;
    // True when a stop string matched during this call.
    bool stopped = false;
    // Index into the constructor's list of the stop string that matched;
    // -1 when none did.
    int stop_index = -1;
  };

  explicit StopMatcher(std::vector<std::string> stop_strings);

  StopMatcher(const StopMatcher&) = delete;
  StopMatcher& operator=(const StopMatcher&) = delete;

  Result Consume(std::string_view piece);

  // Returns and clears the held-back text; empty once stopped.
  std::string Flush();

  // True once a stop string has matched.
  bool stopped() const { return stopped_; }

  // Text currently held back (for tests and diagnostics).
  std::string_view held() const { return held_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace triptych::sampling

#endif  // TRIPTYCH_RUNTIME_SAMPLING_STOP_MATCHER_H_
