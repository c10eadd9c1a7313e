// FuzzInput: how the vfio-user server fuzzer reads its bytes — a sequence of chunks, each one
// message's bytes plus what travels with it (fds, framing fix-up, a split send, an early close).
//
// A raw byte stream would let libFuzzer's mutations break the framing of every message after the
// first one it touches; a chunk carries its own length, so a mutated body keeps the next messages
// intact, while a control bit still lets the fuzzer send a wrong msg_size on purpose.
//
//   input := chunk*
//   chunk := ctl:u8  len:u16 (little-endian)  bytes[len]      (a short last chunk is cut)
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace uvfio::fuzz {

/// ctl bits of a chunk.
inline constexpr uint8_t kCtlFdCountMask = 0x03;  // 0..3 fds attached to the chunk's first byte
inline constexpr uint8_t kCtlFdMemfd = 0x04;      // the fds are memfds (else eventfds)
inline constexpr uint8_t kCtlRawSize = 0x08;      // keep msg_size as given (else set to len)
inline constexpr uint8_t kCtlSplit = 0x10;        // send in two parts, the server runs between
inline constexpr uint8_t kCtlClose = 0x20;        // close the connection after this chunk
inline constexpr uint8_t kCtlSettle = 0x40;       // then let the device's threads act (DMA)

/// Size of the memfds attached with kCtlFdMemfd: four pages, so DMA_MAP offsets and sizes can
/// fall inside, across or past the end of the file.
inline constexpr size_t kFuzzMemfdSize = 4 * 4096;

/// One chunk, decoded. `bytes` points into the input.
struct FuzzChunk {
  uint8_t ctl = 0;
  std::span<const uint8_t> bytes;

  unsigned fd_count() const { return ctl & kCtlFdCountMask; }
  bool memfd() const { return (ctl & kCtlFdMemfd) != 0; }
  bool raw_size() const { return (ctl & kCtlRawSize) != 0; }
  bool split() const { return (ctl & kCtlSplit) != 0; }
  bool close_after() const { return (ctl & kCtlClose) != 0; }
  bool settle_after() const { return (ctl & kCtlSettle) != 0; }
};

/// Splits `input` into chunks. Never fails: trailing bytes too short for a chunk header are
/// ignored, a chunk whose length runs past the end keeps what there is.
std::vector<FuzzChunk> parse_fuzz_input(std::span<const uint8_t> input);

/// Appends one chunk to `out` (for the seed-corpus generator). `bytes` longer than 65535 bytes
/// is cut to that.
void append_fuzz_chunk(std::vector<uint8_t>& out, uint8_t ctl, std::span<const uint8_t> bytes);

}  // namespace uvfio::fuzz
