#include "fuzz_input.h"

#include <algorithm>

namespace uvfio::fuzz {

std::vector<FuzzChunk> parse_fuzz_input(std::span<const uint8_t> input) {
  std::vector<FuzzChunk> chunks;
  size_t pos = 0;
  while (input.size() - pos >= 3) {
    FuzzChunk c;
    c.ctl = input[pos];
    const size_t len = input[pos + 1] | (size_t{input[pos + 2]} << 8);
    pos += 3;
    const size_t take = std::min(len, input.size() - pos);
    c.bytes = input.subspan(pos, take);
    pos += take;
    chunks.push_back(c);
  }
  return chunks;
}

void append_fuzz_chunk(std::vector<uint8_t>& out, uint8_t ctl, std::span<const uint8_t> bytes) {
  const size_t len = std::min<size_t>(bytes.size(), 0xffff);
  out.push_back(ctl);
  out.push_back(static_cast<uint8_t>(len & 0xff));
  out.push_back(static_cast<uint8_t>(len >> 8));
  out.insert(out.end(), bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(len));
}

}  // namespace uvfio::fuzz
