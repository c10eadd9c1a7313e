// uvfio-bench: throughput of the IOAS's device-side hot paths (translation, DMA copies) and of
// map/unmap, each throughput figure next to a floor measured in the same run.
//
// Output, on stdout, one line per figure:
//   BENCH <name> value=<v> unit=<u> [floor=<f> ratio=<value/floor>]
// A ratio of 1.0 means "as fast as the floor". Lines starting with '#' are comments.
//
// Method: self-timed with std::chrono::steady_clock. Every figure is the best of several runs;
// a figure and its floor run alternately (value first on even runs, floor first on odd ones) so
// that drift in frequency or neighbours' load affects both alike. Inputs (IOVA sequences,
// buffers) are prepared, pre-faulted and warm before anything is timed.
#include <sys/mman.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "base/grace_period.h"
#include "examples/edu_driver/edu_driver.h"
#include "iommu/io_page_table.h"
#include "iommu/ioas_state.h"
#include "uvfio/base/mapping.h"
#include "uvfio/iommu/access.h"
#include "uvfio/iommu/ioas.h"
#include "uvfio/iommu/memlock_account.h"
#include "uvfio/iommu/memory_source.h"

namespace {

using uvfio::Mapping;
using uvfio::iommu::Access;
using uvfio::iommu::Frontend;
using uvfio::iommu::Ioas;
using uvfio::iommu::IoasOptions;
using uvfio::iommu::IoPageTable;
using uvfio::iommu::MemlockAccount;
using uvfio::iommu::MemorySource;
using Clock = std::chrono::steady_clock;

constexpr uint64_t kPage = 4096;
constexpr unsigned kPageShift = 12;
constexpr uint32_t kMapFlags =
    uvfio::iommu::kMapRead | uvfio::iommu::kMapWrite | uvfio::iommu::kMapFixedIova;

// Sizes read through a volatile so that memcpy is never specialized for a constant length:
// the floor calls the same libc memcpy the library does.
volatile size_t g_size_4k = 4096;
volatile size_t g_size_1m = size_t{1} << 20;

[[noreturn]] void die(const char* what, int err) {
  std::fprintf(stderr, "uvfio-bench: %s: %s\n", what, std::strerror(err));
  std::exit(1);
}

// Makes `v` count as used without a memory access of its own (the load that produced it stays).
template <class T>
inline void keep(T v) {
  asm volatile("" : : "r"(v));
}
// Makes every store so far count as observed (no dead-store elimination of repeated copies).
inline void clobber() {
  asm volatile("" : : : "memory");
}

template <class F>
double seconds(F&& f) {
  const auto t0 = Clock::now();
  f();
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Rates {
  double value = 0;
  double floor = 0;
};

// Runs `value` and `floor` `reps` times each, alternating which goes first; one run does `ops`
// operations. Returns the best rate (ops/s) of each.
template <class V, class F>
Rates best_of(int reps, double ops, V&& value, F&& floor) {
  Rates r;
  for (int i = 0; i < reps; ++i) {
    if (i % 2 == 0) {
      r.value = std::max(r.value, ops / seconds(value));
      r.floor = std::max(r.floor, ops / seconds(floor));
    } else {
      r.floor = std::max(r.floor, ops / seconds(floor));
      r.value = std::max(r.value, ops / seconds(value));
    }
  }
  return r;
}

template <class V>
double best_of(int reps, double ops, V&& value) {
  double best = 0;
  for (int i = 0; i < reps; ++i) best = std::max(best, ops / seconds(value));
  return best;
}

std::string num(double v) {
  char b[64];
  if (v >= 1000) {
    std::snprintf(b, sizeof b, "%.0f", v);
  } else {
    std::snprintf(b, sizeof b, "%.3f", v);
  }
  return b;
}

void report(const std::string& name, double value, const char* unit) {
  std::printf("BENCH %s value=%s unit=%s\n", name.c_str(), num(value).c_str(), unit);
  std::fflush(stdout);
}

void report(const std::string& name, double value, const char* unit, double floor) {
  std::printf("BENCH %s value=%s unit=%s floor=%s ratio=%.3f\n", name.c_str(), num(value).c_str(),
              unit, num(floor).c_str(), value / floor);
  std::fflush(stdout);
}

std::string read_first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

void print_header() {
  std::string model = "unknown";
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind("model name", 0) == 0) {
      if (auto p = line.find(':'); p != std::string::npos) model = line.substr(p + 2);
      break;
    }
  }
  std::string caches;
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    const std::string level = read_first_line(dir + "level");
    if (level.empty()) break;
    const std::string type = read_first_line(dir + "type");
    if (type == "Instruction") continue;
    caches += " L" + level + (type == "Data" ? "d" : "") + "=" + read_first_line(dir + "size");
  }
  utsname u{};
  ::uname(&u);
  std::printf("# uvfio-bench: nproc=%ld cpu=\"%s\"%s kernel=%s membarrier=%s loadavg=%s\n",
              ::sysconf(_SC_NPROCESSORS_ONLN), model.c_str(), caches.c_str(), u.release,
              uvfio::grace_detail::g_use_membarrier ? "yes" : "no",
              read_first_line("/proc/loadavg").substr(0, 14).c_str());
  std::printf(
      "# method: steady_clock, best of interleaved runs (value and floor alternate); "
      "ratio = value/floor\n");
  std::fflush(stdout);
}

Mapping warm_buffer(size_t length, int fill) {
  auto m = Mapping::anonymous(length);
  if (!m) die("mmap", m.error());
  std::memset(m->data(), fill, length);  // pre-fault every page
  return std::move(*m);
}

std::shared_ptr<Ioas> make_ioas() {
  auto ioas =
      Ioas::create(IoasOptions{.page_size = kPage,
                               .account = MemlockAccount::create(MemlockAccount::kUnlimited),
                               .max_areas = 0});
  if (!ioas) die("Ioas::create", ioas.error());
  return *ioas;
}

std::shared_ptr<Access> attach_access(const std::shared_ptr<Ioas>& ioas) {
  auto access = Access::create();
  if (auto r = access->attach(ioas); !r) die("Access::attach", r.error());
  return access;
}

void map_page(Ioas& ioas, void* page, uint64_t iova) {
  auto r = ioas.map(MemorySource::process(page, kPage), iova, kMapFlags);
  if (!r) die("Ioas::map", r.error());
}

// ---------------------------------------------------------------------------------------------
// 1. Translation: Access::translate() and the raw page-table walk, against a flat array.

void bench_translate() {
  constexpr size_t kLookups = size_t{1} << 20;  // per run; 8 MiB of pre-generated IOVAs
  constexpr int kReps = 15;
  const uint64_t sizes[] = {1, 64, 4096, 65536, 1048576};

  Mapping page = warm_buffer(kPage, 0x5a);
  auto ioas = make_ioas();
  auto access = attach_access(ioas);
  const IoPageTable& table = ioas->state().table;

  std::vector<uint64_t> rnd(kLookups), seq(kLookups);
  std::mt19937_64 gen(42);
  // For the summary: [family][order] -> rate at the smallest and the largest size, and the
  // slowest rate of any size.
  struct Span {
    double first = 0, last = 0, min = 1e300;
  };
  Span spans[2][2];
  uint64_t areas = 0;
  double build_s = 0;

  for (uint64_t n : sizes) {
    // One IOAS, grown from one size to the next: the first n areas are exactly what an IOAS
    // built for n areas holds, and nothing is built twice.
    build_s += seconds([&] {
      for (; areas < n; ++areas) map_page(*ioas, page.data(), areas * kPage);
    });

    // The floor's single-level table: one pointer-sized entry per area, indexed by iova >> 12.
    std::vector<const void*> flat(n);
    {
      uvfio::ReadSection rs;
      for (uint64_t i = 0; i < n; ++i) flat[i] = table.lookup(i * kPage);
    }

    // IOVA sequences. Random: a uniformly random area, then a random offset in it. Sequential:
    // area after area (wrapping around), a random offset in each.
    std::uniform_int_distribution<uint64_t> pick_area(0, n - 1), pick_offset(0, kPage - 1);
    uint64_t expect_rnd = 0, expect_seq = 0;  // sum of Translation::contiguous, to check results
    for (size_t i = 0; i < kLookups; ++i) {
      rnd[i] = pick_area(gen) * kPage + pick_offset(gen);
      seq[i] = (i % n) * kPage + pick_offset(gen);
      expect_rnd += kPage - (rnd[i] & (kPage - 1));
      expect_seq += kPage - (seq[i] & (kPage - 1));
    }

    auto record = [&](Span& sp, uint64_t size, double rate) {
      if (size == sizes[0]) sp.first = rate;
      sp.last = rate;
      sp.min = std::min(sp.min, rate);
    };
    uint64_t sum = 0;
    auto translate = [&](const std::vector<uint64_t>& ivs) {
      Access& a = *access;
      uint64_t s = 0;
      for (uint64_t iova : ivs) {
        auto t = a.translate(iova);
        if (t.ok()) s += t->contiguous;
      }
      keep(s);
      sum = s;
    };
    auto hot = [&](const std::vector<uint64_t>& ivs) {
      uvfio::ReadSection rs;
      for (uint64_t iova : ivs) keep(table.lookup(iova));
    };
    auto flat_lookup = [&](const std::vector<uint64_t>& ivs) {
      const void* const* t = flat.data();
      for (uint64_t iova : ivs) keep(t[iova >> kPageShift]);
    };

    for (int order = 0; order < 2; ++order) {
      const std::vector<uint64_t>& ivs = order == 0 ? rnd : seq;
      const char* tag = order == 0 ? "random" : "seq";
      const uint64_t expect = order == 0 ? expect_rnd : expect_seq;
      auto floor_run = [&] { flat_lookup(ivs); };
      auto translate_run = [&] { translate(ivs); };
      auto hot_run = [&] { hot(ivs); };

      Rates r = best_of(kReps, double{kLookups}, translate_run, floor_run);
      if (sum != expect) {
        std::fprintf(stderr, "uvfio-bench: translate returned wrong results (n=%llu)\n",
                     static_cast<unsigned long long>(n));
        std::exit(1);
      }
      report("translate_" + std::string(tag) + "_" + std::to_string(n), r.value, "lookups/s",
             r.floor);
      record(spans[0][order], n, r.value);

      r = best_of(kReps, double{kLookups}, hot_run, floor_run);
      report("translate_hot_" + std::string(tag) + "_" + std::to_string(n), r.value, "lookups/s",
             r.floor);
      record(spans[1][order], n, r.value);
    }
  }
  // Against the brief's target for the hot path: >= 50 M lookups/s, and flat (within 2x) from
  // 1 to 1 M areas.
  for (int family = 0; family < 2; ++family) {
    const Span& r = spans[family][0];
    const Span& q = spans[family][1];
    std::printf(
        "# %s: slowest %.1f M lookups/s%s; from %llu to %llu areas the rate drops %.1fx random, "
        "%.1fx sequential%s\n",
        family == 0 ? "Access::translate" : "hot path (table walk in one read section)",
        std::min(r.min, q.min) / 1e6, family == 1 ? " (target >= 50 M)" : "",
        static_cast<unsigned long long>(sizes[0]), static_cast<unsigned long long>(areas),
        r.first / r.last, q.first / q.last, family == 1 ? " (target: within 2x)" : "");
  }
  std::printf("# translate: built %llu areas in %.2f s (%.0f maps/s)\n",
              static_cast<unsigned long long>(areas), build_s,
              static_cast<double>(areas) / build_s);
  const double teardown_s = seconds([&] {
    access.reset();
    ioas.reset();
  });
  std::printf("# translate: tore down %llu areas in %.2f s\n",
              static_cast<unsigned long long>(areas), teardown_s);
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// 2. Map+unmap pairs on an IOAS holding a few thousand other areas.

void bench_map_unmap() {
  constexpr uint64_t kOthers = 4096;
  constexpr uint64_t kHolePage = kOthers / 2;
  constexpr int kPairs = 20000;  // per run
  constexpr int kReps = 9;

  Mapping page = warm_buffer(kPage, 0x11);
  Mapping other = warm_buffer(kPage, 0x22);
  auto ioas = make_ioas();
  // kOthers areas at pages [0, kOthers], leaving a hole at kHolePage: the pair maps into the
  // hole, inside page tables that stay populated (no table is allocated or freed per pair).
  for (uint64_t p = 0; p <= kOthers; ++p) {
    if (p != kHolePage) map_page(*ioas, other.data(), p * kPage);
  }
  const uint64_t hole = kHolePage * kPage;
  // Alone in its 2 MiB slot (one level-0 table, allocated by the map and retired by the unmap).
  const uint64_t far = uint64_t{64} << 20;

  auto pairs_at = [&](uint64_t iova) {
    for (int i = 0; i < kPairs; ++i) {
      map_page(*ioas, page.data(), iova);
      auto r = ioas->unmap(iova, kPage, Frontend::kIommufd);
      if (!r) die("Ioas::unmap", r.error());
    }
  };
  // Reference only (not a floor: an IOAS map does not mmap): a raw mmap+munmap of 4 KiB.
  auto mmap_pairs = [&] {
    for (int i = 0; i < kPairs; ++i) {
      void* p = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) die("mmap", errno);
      keep(p);
      ::munmap(p, kPage);
    }
  };

  Rates r = best_of(
      kReps, double{kPairs}, [&] { pairs_at(hole); }, mmap_pairs);
  report("map_unmap_pair", r.value, "pairs/s");
  report("map_unmap_pair_new_table", best_of(kReps, double{kPairs}, [&] { pairs_at(far); }),
         "pairs/s");
  report("ref_mmap_munmap_pair_4k", r.floor, "pairs/s");

  // Breakdown (comment only): map and unmap timed separately, and the two system calls they
  // make on every call (mincore in map's source check, membarrier in unmap's grace period).
  double map_ns = 1e30, unmap_ns = 1e30, sync_ns = 1e30, mincore_ns = 1e30;
  for (int rep = 0; rep < kReps; ++rep) {
    Clock::duration m{}, u{};
    for (int i = 0; i < kPairs; ++i) {
      const auto t0 = Clock::now();
      map_page(*ioas, page.data(), hole);
      const auto t1 = Clock::now();
      auto res = ioas->unmap(hole, kPage, Frontend::kIommufd);
      const auto t2 = Clock::now();
      if (!res) die("Ioas::unmap", res.error());
      m += t1 - t0;
      u += t2 - t1;
    }
    map_ns = std::min(map_ns, std::chrono::duration<double, std::nano>(m).count() / kPairs);
    unmap_ns = std::min(unmap_ns, std::chrono::duration<double, std::nano>(u).count() / kPairs);
    sync_ns = std::min(sync_ns, 1e9 / best_of(1, double{kPairs}, [&] {
                                  for (int i = 0; i < kPairs; ++i) uvfio::synchronize_readers();
                                }));
    mincore_ns = std::min(mincore_ns, 1e9 / best_of(1, double{kPairs}, [&] {
                                        unsigned char vec[1];
                                        for (int i = 0; i < kPairs; ++i) {
                                          ::mincore(page.data(), kPage, vec);
                                          keep(vec[0]);
                                        }
                                      }));
  }
  std::printf(
      "# map_unmap_pair breakdown (ns/call, %llu other areas): map=%.0f unmap=%.0f; "
      "synchronize_readers alone=%.0f, mincore(4 KiB) alone=%.0f\n",
      static_cast<unsigned long long>(kOthers), map_ns, unmap_ns, sync_ns, mincore_ns);
  std::fflush(stdout);
}

// ---------------------------------------------------------------------------------------------
// 3. Access::write/read against memcpy between the same buffers.

void bench_copy() {
  constexpr int kReps = 41;  // short runs, many of them: the best is less exposed to noise
  const size_t size_4k = g_size_4k;
  const size_t size_1m = g_size_1m;

  Mapping dev_4k = warm_buffer(size_4k, 0x33);  // device memory (mapped into the IOAS)
  Mapping dev_1m = warm_buffer(size_1m, 0x44);
  Mapping host = warm_buffer(size_1m, 0x55);  // the device model's buffer
  auto ioas = make_ioas();
  const uint64_t iova_4k = 0, iova_1m = uint64_t{1} << 30;
  if (auto r = ioas->map(MemorySource::process(dev_4k.data(), size_4k), iova_4k, kMapFlags); !r) {
    die("Ioas::map", r.error());
  }
  if (auto r = ioas->map(MemorySource::process(dev_1m.data(), size_1m), iova_1m, kMapFlags); !r) {
    die("Ioas::map", r.error());
  }
  auto access = attach_access(ioas);

  struct Case {
    const char* name;
    uint64_t iova;
    void* dev;
    size_t size;
    int iters;  // per run: 50 MiB either way
  };
  const Case cases[] = {{"4k", iova_4k, dev_4k.data(), size_4k, 12800},
                        {"1m", iova_1m, dev_1m.data(), size_1m, 50}};
  for (const Case& c : cases) {
    const double bytes = static_cast<double>(c.size) * c.iters;
    void* h = host.data();
    auto access_write = [&] {
      for (int i = 0; i < c.iters; ++i) {
        auto r = access->write(c.iova, h, c.size);
        if (!r) die("Access::write", r.error());
        clobber();
      }
    };
    auto memcpy_write = [&] {
      for (int i = 0; i < c.iters; ++i) {
        std::memcpy(c.dev, h, c.size);
        clobber();
      }
    };
    auto access_read = [&] {
      for (int i = 0; i < c.iters; ++i) {
        auto r = access->read(c.iova, h, c.size);
        if (!r) die("Access::read", r.error());
        clobber();
      }
    };
    auto memcpy_read = [&] {
      for (int i = 0; i < c.iters; ++i) {
        std::memcpy(h, c.dev, c.size);
        clobber();
      }
    };
    Rates w = best_of(kReps, bytes / 1e9, access_write, memcpy_write);
    report(std::string("access_write_") + c.name, w.value, "GB/s", w.floor);
    Rates rd = best_of(kReps, bytes / 1e9, access_read, memcpy_read);
    report(std::string("access_read_") + c.name, rd.value, "GB/s", rd.floor);
  }
}

}  // namespace

// Interrupt delivery through the vfio-pci core: an MMIO write to edu's raise register until a
// thread waiting on the vector's eventfd wakes, against the same hand-off over a raw eventfd
// between the same threads (the floor), both measured by the edu driver in this run.
void bench_interrupts() {
  for (const bool intx : {false, true}) {
    uvfio::examples::EduDriverOptions o;
    o.latency_samples = 2000;
    o.force_intx = intx;
    const uvfio::examples::EduReport r =
        uvfio::examples::run_edu_driver("emu:edu,dma_delay_us=0", o);
    if (!r.passed() || !r.irq_latency || !r.eventfd_floor) {
      std::printf("# interrupt latency (%s): the edu driver failed: %s\n", intx ? "INTx" : "MSI",
                  r.fatal.c_str());
      continue;
    }
    report(intx ? "irq_latency_intx_median" : "irq_latency_msi_median", r.irq_latency->median_us,
           "us", r.eventfd_floor->median_us);
  }
}

int run() {
  const auto t0 = Clock::now();
  print_header();
  bench_translate();
  bench_map_unmap();
  bench_copy();
  bench_interrupts();
  std::printf("# total %.1f s\n", std::chrono::duration<double>(Clock::now() - t0).count());
  return 0;
}

int main() {
  try {
    return run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "uvfio-bench: %s\n", e.what());
    return 1;
  }
}
