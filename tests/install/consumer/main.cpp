// Maps a buffer into an IOAS and moves data through an access, using only installed headers.
#include <uvfio/base/errno_name.h>
#include <uvfio/iommu/access.h>
#include <uvfio/iommu/ioas.h>

#include <cstdio>
#include <cstring>
#include <vector>

int main() {
  using namespace uvfio::iommu;
  auto ioas = *Ioas::create();
  std::vector<char> buf(8192 + 4096);
  char* page = reinterpret_cast<char*>((reinterpret_cast<uintptr_t>(buf.data()) + 4095) & ~4095ul);
  auto iova = ioas->map(MemorySource::process(page, 8192), 0, kMapRead | kMapWrite);
  if (!iova) {
    std::printf("map: %s\n", uvfio::errno_name(iova.error()).c_str());
    return 1;
  }
  auto dev = Access::create();
  if (!dev->attach(ioas)) return 1;
  if (!dev->write(*iova + 100, "installed", 10)) return 1;
  if (std::strcmp(page + 100, "installed") != 0) return 1;
  std::printf("consumer ok: iova=%#llx errno_name(EEXIST)=%s\n",
              static_cast<unsigned long long>(*iova), uvfio::errno_name(EEXIST).c_str());
  return 0;
}
