#include "pci/config_function.h"

#include <cassert>

namespace uvfio::pci {

namespace {

uint8_t byte_of(uint32_t v, unsigned i) {
  return static_cast<uint8_t>(v >> (8 * i));
}

}  // namespace

ConfigFunction::ConfigFunction(size_t size)
    : regs_(size), reset_(size), writable_(size), w1c_(size) {}

uint32_t ConfigFunction::read(size_t pos, unsigned count) const {
  assert(pos + count <= regs_.size());
  uint32_t v = 0;
  for (unsigned i = 0; i < count; ++i) v |= uint32_t{regs_[pos + i]} << (8 * i);
  return v;
}

void ConfigFunction::write(size_t pos, unsigned count, uint32_t val) {
  assert(pos + count <= regs_.size());
  for (unsigned i = 0; i < count; ++i) {
    const size_t p = pos + i;
    const uint8_t b = byte_of(val, i);
    uint8_t r = regs_[p];
    r = static_cast<uint8_t>((r & ~writable_[p]) | (b & writable_[p]));
    r = static_cast<uint8_t>(r & ~(b & w1c_[p]));
    regs_[p] = r;
  }
}

void ConfigFunction::define(size_t pos, unsigned count, uint32_t value, uint32_t writable,
                            uint32_t w1c) {
  assert(pos + count <= regs_.size());
  for (unsigned i = 0; i < count; ++i) {
    regs_[pos + i] = reset_[pos + i] = byte_of(value, i);
    writable_[pos + i] = byte_of(writable, i);
    w1c_[pos + i] = byte_of(w1c, i);
  }
}

void ConfigFunction::update(size_t pos, unsigned count, uint32_t mask, uint32_t bits) {
  assert(pos + count <= regs_.size());
  for (unsigned i = 0; i < count; ++i) {
    const uint8_t m = byte_of(mask, i);
    regs_[pos + i] = static_cast<uint8_t>((regs_[pos + i] & ~m) | (byte_of(bits, i) & m));
  }
}

void ConfigFunction::power_on_reset() {
  regs_ = reset_;
}

void ConfigFunction::restore(const std::vector<uint8_t>& saved) {
  assert(saved.size() == regs_.size());
  for (size_t p = 0; p < regs_.size(); ++p) {
    const auto keep = static_cast<uint8_t>(writable_[p] & ~w1c_[p]);
    regs_[p] = static_cast<uint8_t>((regs_[p] & ~keep) | (saved[p] & keep));
  }
}

}  // namespace uvfio::pci
