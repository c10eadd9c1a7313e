// `uvfio demo`: until the emulated edu device arrives, a walk through the IOAS every emulated
// device's DMA goes through: map, device read/write with permission checks, pin, and an unmap
// that has to ask the device to drop its pins first.
#include <fmt/format.h>

#include <array>
#include <cstring>
#include <vector>

#include "tools/uvfio/commands.h"
#include "uvfio/base/errno_name.h"
#include "uvfio/base/mapping.h"
#include "uvfio/iommu/access.h"
#include "uvfio/iommu/ioas.h"

namespace uvfio::tools {

using namespace uvfio::iommu;

namespace {

int fail(const char* step, int err) {
  fmt::print(stderr, "demo: {} failed: {}\n", step, errno_describe(err));
  return 1;
}

}  // namespace

int run_demo() {
  auto created =
      Ioas::create({.page_size = 4096, .account = MemlockAccount::create(uint64_t{64} << 20)});
  if (!created) return fail("creating the IOAS", created.error());
  auto ioas = std::move(*created);
  auto buf = Mapping::anonymous(size_t{64} << 10);
  if (!buf) return fail("allocating the DMA buffer", buf.error());
  std::memcpy(buf->data(), "hello from the driver", 22);

  fmt::print("1. IOAS with 4 KiB IOMMU pages; usable IOVA ranges:");
  for (const auto& r : ioas->iova_ranges()) fmt::print(" [{:#x}, {:#x}]", r.start, r.last);
  fmt::print("\n");

  auto iova = ioas->map(MemorySource::process(buf->data(), buf->size()), 0, kMapRead | kMapWrite);
  if (!iova) return fail("IOAS map", iova.error());
  fmt::print("2. mapped a 64 KiB buffer read/write at IOVA {:#x} (chosen by the IOAS)\n", *iova);

  auto ro = ioas->map(MemorySource::process(buf->bytes() + 32768, 4096), 0x100000,
                      kMapRead | kMapFixedIova);
  if (!ro) return fail("IOAS map (read-only)", ro.error());
  fmt::print(
      "3. mapped 4 KiB of it again read-only at fixed IOVA {:#x}; memlock charged: {} KiB"
      " (shared pages counted once)\n",
      *ro, ioas->account()->locked_bytes() / 1024);

  int unpin_calls = 0;
  std::shared_ptr<Access> dev;
  dev = Access::create([&](uint64_t at, uint64_t len) {
    ++unpin_calls;
    fmt::print("   device: unmap callback for [{:#x}, +{:#x}): dropping my pin\n", at, len);
    (void)dev->unpin(*iova, 4096);
  });
  if (auto r = dev->attach(ioas); !r) return fail("access attach", r.error());

  std::array<char, 22> got{};
  if (auto r = dev->read(*iova, got.data(), got.size()); !r) return fail("device read", r.error());
  fmt::print("4. device read at IOVA {:#x}: \"{}\"\n", *iova, got.data());

  if (auto r = dev->write(*iova + 4096, "written by the device", 22); !r) {
    return fail("device write", r.error());
  }
  fmt::print("5. device wrote at IOVA {:#x}; the driver sees: \"{}\"\n", *iova + 4096,
             reinterpret_cast<const char*>(buf->bytes() + 4096));

  auto bad = dev->write(*ro, "x", 1);
  fmt::print("6. device write to the read-only mapping: refused with {}\n",
             errno_name(bad.error()));
  auto out = dev->read(0xdead0000, got.data(), 8);
  fmt::print("7. device read from an unmapped IOVA: refused with {}\n", errno_name(out.error()));

  auto pinned = dev->pin(*iova, 4096, kAccessWrite);
  if (!pinned) return fail("pin", pinned.error());
  fmt::print("8. device pinned IOVA {:#x} (+4 KiB) -> host {}\n", *iova,
             static_cast<void*>((*pinned)[0].host));

  auto un = ioas->unmap(*iova, buf->size(), Frontend::kIommufd);
  if (!un) return fail("unmap", un.error());
  fmt::print("9. unmapped {} KiB after {} unmap callback(s); pins left: {}\n", *un / 1024,
             unpin_calls, dev->pin_count());
  auto gone = dev->read(*iova, got.data(), 8);
  fmt::print("10. device read after unmap: refused with {}\n", errno_name(gone.error()));
  return 0;
}

}  // namespace uvfio::tools
