// Secrets kept out of what Baton shows (SPEC §12): the passwords of URLs and
// connection strings wherever one is printed (`config show`, start-up lines,
// errors, GET /connections, task logs), and the values of secret variables in
// the logs of the tries that used them.
//
// Pure functions and a plain value class: no I/O, safe from any thread (one
// SecretMasker per stream). Every function is linear in its input (no regular
// expressions, no backtracking), so hostile text costs what its length costs.
#pragma once

#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace baton {

// What a secret is shown as.
inline constexpr std::string_view kMasked = "***";

// `text` with every password replaced by ***. Three forms, anywhere in the
// text (a URL alone, a libpq keyword/value string, or a message quoting one):
//  - URL user info, `scheme://user:PASSWORD@host...`: the password runs to the
//    last `@` before the query (`?`), so one holding `@` or `/` unencoded is
//    masked whole; a password holding `?` is masked too when no `/` comes
//    before that `?`. A URL ends at a blank or at the next URL's `://` (a
//    list, compact JSON). A `sqlite:` URL is a file name: nothing in it is
//    masked (the rest of the text is, as usual).
//  - parameters `password=` and `sslpassword=` after `?`, `&`, a blank or the
//    start: the key is compared after percent-decoding and ignoring case
//    (`PassWord=`, `pass%77ord=`); the value runs to `&`, `#` or a blank in a
//    query, to a blank in a keyword/value string (`password = x` and
//    quoted `password='a b\'c'` and `password="a b\"c"` included).
// An empty password stays empty; the rest of the text is unchanged.
std::string mask_secrets(std::string_view text);

// The passwords mask_secrets would hide in `text`: each as written and, when
// that differs, percent-decoded (URL forms) or unquoted (keyword form); for
// user info also the pieces between `/`, `@`, `?`, `#` and `:` (where libpq
// cuts a password it cannot parse). For masking messages that may echo them
// (a database's error about the URL).
std::vector<std::string> find_secrets(std::string_view text);

// Values shorter than this are not masked by SecretMasker (masking "1" or
// "yes" everywhere would garble a log and reveal the value anyway).
inline constexpr size_t kMinMaskedLength = 4;
// Nor are values longer than this (they are not looked for).
inline constexpr size_t kMaxMaskedLength = 64 * 1024;

// Replaces every occurrence of some values (the secret variables a try used)
// in a stream of text by ***, also across the chunks the stream comes in
// (Aho-Corasick: linear in the text, whatever the values). Every byte of
// every occurrence is masked: occurrences that overlap (a value inside a
// longer one included) become one ***; occurrences side by side stay one
// *** each.
class SecretMasker {
 public:
  SecretMasker() = default;
  explicit SecretMasker(const std::vector<std::string>& values);

  // Whether there is nothing to mask (no value of a usable length).
  bool empty() const { return nodes_.size() <= 1; }

  // Appends to `out` what of `in` can be written now; bytes that may be the
  // start of a value are held back until the next feed() or flush().
  void feed(std::string_view in, std::string& out);
  // Appends whatever is held back (at the end of the stream, or before
  // writing a line of one's own).
  void flush(std::string& out);
  // A whole text at once (the state held back is flushed first).
  std::string mask(std::string_view text);

 private:
  struct Node {
    int fail = 0;
    int depth = 0;
    int match = 0;        // the length of the longest value ending here (0: none)
    int first_edge = -1;  // edges of this node, a linked list in edges_
  };
  struct Edge {
    unsigned char byte;
    int to;
    int next;
  };
  struct Interval {
    unsigned long long begin, end;  // [begin, end) in the stream since the last flush
  };
  int child(int node, unsigned char byte) const;
  int step(int node, unsigned char byte) const;

  std::vector<Node> nodes_;
  std::vector<Edge> edges_;
  int state_ = 0;
  unsigned long long pos_ = 0;      // bytes fed since the last flush
  unsigned long long written_ = 0;  // of which written (or masked, in pending_.front())
  std::string held_;                // the bytes from written_ on (from held_at_), not written yet
  size_t held_at_ = 0;
  std::deque<Interval> pending_;    // occurrences to mask (merged where they overlap), in order
};

// A message (a database's error, say) that may quote `url`: mask_secrets,
// then every password of `url` (find_secrets) masked wherever it appears.
std::string mask_message(std::string_view message, std::string_view url);

}  // namespace baton
