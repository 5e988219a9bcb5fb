#ifndef TRIPTYCH_RUNTIME_TOOL_CALLS_JSON_STREAM_H_
#define TRIPTYCH_RUNTIME_TOOL_CALLS_JSON_STREAM_H_

// Internal to triptych_tool_calls: the JSON pieces the parsers share, and
// the incremental scanners that let ToolCallStream send a call's arguments
// while the model is still writing them.
//
// The arguments a client receives must be the same text streamed or not:
// ParseToolCalls writes them as nlohmann's dump(-1) of the parsed value, so
// JsonCompactor writes each token as that dump would (whitespace outside
// strings dropped, numbers, literals and string escapes re-written through
// nlohmann one token at a time; dump is compositional, so the concatenation
// equals the dump of the whole value). The only valid JSON where the two
// could differ, an object that repeats a key (nlohmann keeps the last value,
// a stream has sent the first), is no JSON for ParseJson below.

#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "nlohmann/json.hpp"
#include "runtime/tool_calls/tool_call_parser.h"

namespace triptych::tool_calls::internal {

// `s` as one JSON value; nullopt when it is not one, or when an object in
// it repeats a key.
std::optional<nlohmann::ordered_json> ParseJson(std::string_view s);

// `j` as compact JSON (invalid UTF-8 in strings becomes U+FFFD).
std::string Dump(const nlohmann::ordered_json& j);

// Writes a JSON object or array compactly as its bytes arrive and says
// where it ends. Malformed input is not detected as such: a token that does
// not parse is written as it came, and the end is where the brackets
// balance outside strings (as the parsers' JsonEnd finds it). Not
// thread-safe.
class JsonCompactor {
 public:
  // Feeds the next byte; appends what is decided to *out. Preconditions:
  // !done(); the first byte is '{' or '['.
  void Feed(char c, std::string* out);
  bool done() const { return done_; }

 private:
  // Writes the pending number or literal (tok_) as nlohmann would.
  void FlushToken(std::string* out);
  // Writes the pending string escape (esc_) as nlohmann would.
  void FlushEscape(std::string* out);

  int depth_ = 0;
  bool in_string_ = false;
  bool done_ = false;
  std::string tok_;  // a number or literal being read
  std::string esc_;  // a string escape being read ("\n", "\u00e9", a pair)
};

// Reads one call as its text arrives: either a JSON envelope
// `{"name": "f", "arguments" | "parameters": {...}, ...}` (Hermes, Llama 3,
// Mistral's lists) or, when the format writes the name outside the JSON
// (Mistral's [ARGS], functionary, gpt-oss), the arguments object alone.
// The arguments stream once the name is known and they start with '{'; a
// call that cannot stream that way (arguments before the name, as a JSON
// string, missing) gives up and is left to the whole parse. Not
// thread-safe.
class CallScanner {
 public:
  // Fed from the envelope's first byte (leading whitespace is skipped).
  static CallScanner Envelope();
  // Fed from the arguments' first byte (leading whitespace is skipped).
  static CallScanner Arguments(std::string name);

  void Feed(char c);
  // The arguments have started: name() and arguments() are meaningful.
  bool streaming() const { return args_started_; }
  // The call's JSON ended (the envelope's or the arguments' closing
  // bracket); no byte after it belongs to the call.
  bool done() const { return state_ == State::kDone; }
  // The call will not stream (or the envelope's syntax broke): the whole
  // parse decides it. done() may still become true after this.
  bool gave_up() const { return state_ == State::kGaveUp; }
  const std::string& name() const { return name_; }
  // Envelope() rather than Arguments().
  bool envelope() const { return envelope_; }
  // The compact arguments written so far.
  const std::string& arguments() const { return args_; }

 private:
  // Envelope states; an arguments-only scanner is kValue (for its
  // arguments key) then kArgs then kDone.
  enum class State {
    kOpen,
    kKey,
    kInKey,
    kColon,
    kValue,
    kInName,
    kArgs,
    kSkip,
    kAfter,
    kDone,
    kGaveUp
  };
  CallScanner() = default;
  // Feeds `c` to the skipped value; true when c is past its end.
  bool Skip(char c);

  State state_ = State::kOpen;
  bool envelope_ = true;
  bool args_started_ = false;
  std::string name_;
  std::string key_;  // the current key (decoded)
  std::string raw_;  // the key or name string being read, raw
  bool escaped_ = false;
  JsonCompactor args_scanner_;
  std::string args_;
  // The value being skipped.
  int skip_depth_ = 0;
  bool skip_in_string_ = false;
  bool skip_escaped_ = false;
};

// A call whose arguments go out as fragments: a CallScanner and how much of
// its arguments were sent. A fragment never ends inside a UTF-8 sequence
// (each becomes a JSON string in a chunk of its own) until Flush.
class LiveCall {
 public:
  explicit LiveCall(CallScanner scanner) : scanner_(std::move(scanner)) {}

  // Feeds `s`, up to the call's end (returns the bytes consumed). When the
  // arguments start, appends the call's first delta (index *next_index,
  // then incremented) and from then on its argument fragments.
  size_t Feed(std::string_view s, int* next_index, ToolCallStream::Delta* out);
  // Sends the arguments held back (a partial UTF-8 sequence); for a call
  // whose text ended.
  void Flush(ToolCallStream::Delta* out);

  const CallScanner& scanner() const { return scanner_; }
  // The call's first piece went out.
  bool begun() const { return index_ >= 0; }
  // The call as streamed (name and the arguments so far).
  ToolCall call() const { return {scanner_.name(), scanner_.arguments()}; }

 private:
  void Send(bool all, ToolCallStream::Delta* out);

  CallScanner scanner_;
  int index_ = -1;  // -1: not begun
  size_t sent_ = 0;
};

}  // namespace triptych::tool_calls::internal

#endif  // TRIPTYCH_RUNTIME_TOOL_CALLS_JSON_STREAM_H_
