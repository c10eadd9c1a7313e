// iommufd scenarios: main.c's dispatch, ioas.c, vfio_compat.c, and the device cdev
// (device_cdev.c: BIND_IOMMUFD, ATTACH/DETACH_IOMMUFD_PT).
#include "steps.h"
#include "uvfio/uapi/iommufd.h"
#include "uvfio/uapi/vfio_cdev.h"

namespace uvfio::conformance {

using namespace steps;
using namespace uvfio::uapi;

namespace {

// The IOAS id of the last successful alloc, kept in the Env's buffer "ids".
uint32_t& ioas_id(Env& e, int which = 0) {
  return static_cast<uint32_t*>(e.buffer("ids", 4096))[which];
}

Step open_iommufd(long expect = kFd) {
  return open_path("iommufd", "/dev/iommu", expect);
}

Step ioas_alloc(long expect = 0, uint32_t flags = 0, int which = 0) {
  return custom(
      "IOMMU_IOAS_ALLOC",
      [=](Env& e) {
        iommu_ioas_alloc a{};
        a.size = sizeof a;
        a.flags = flags;
        long r = e.ioctl("iommufd", IOMMU_IOAS_ALLOC, &a);
        if (r == 0) ioas_id(e, which) = a.out_ioas_id;
        return r;
      },
      expect);
}

Step ioas_map(uint64_t iova, uint64_t length, uint32_t flags, long expect, int which = 0) {
  return custom(
      "IOMMU_IOAS_MAP(iova " + std::to_string(iova) + ", length " + std::to_string(length) +
          ", flags " + std::to_string(flags) + ")",
      [=](Env& e) {
        iommu_ioas_map m{};
        m.size = sizeof m;
        m.flags = flags;
        m.ioas_id = ioas_id(e, which);
        m.user_va = reinterpret_cast<uint64_t>(e.buffer("dma", 1 << 22));
        m.length = length;
        m.iova = iova;
        return e.ioctl("iommufd", IOMMU_IOAS_MAP, &m);
      },
      expect);
}

/// Returns the unmapped length on success.
Step ioas_unmap(uint64_t iova, uint64_t length, long expect) {
  return custom(
      "IOMMU_IOAS_UNMAP(iova " + std::to_string(iova) + ", length " + std::to_string(length) + ")",
      [=](Env& e) -> long {
        iommu_ioas_unmap u{};
        u.size = sizeof u;
        u.ioas_id = ioas_id(e);
        u.iova = iova;
        u.length = length;
        long r = e.ioctl("iommufd", IOMMU_IOAS_UNMAP, &u);
        return r < 0 ? r : static_cast<long>(u.length);
      },
      expect);
}

Step destroy(long expect, int which = 0) {
  return custom(
      "IOMMU_DESTROY(ioas)",
      [=](Env& e) {
        iommu_destroy d{};
        d.size = sizeof d;
        d.id = ioas_id(e, which);
        return e.ioctl("iommufd", IOMMU_DESTROY, &d);
      },
      expect);
}

constexpr uint32_t kRW = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
constexpr uint32_t kFixed = kRW | IOMMU_IOAS_MAP_FIXED_IOVA;

Step open_cdev(long expect = kFd) {
  return custom(
      "open the device cdev", [](Env& e) { return e.open("cdev", e.world.cdev); }, expect);
}

Step bind(long expect) {
  return custom(
      "VFIO_DEVICE_BIND_IOMMUFD",
      [](Env& e) {
        vfio_device_bind_iommufd b{};
        b.argsz = sizeof b;
        b.iommufd = e.fd("iommufd");
        return e.ioctl("cdev", VFIO_DEVICE_BIND_IOMMUFD, &b);
      },
      expect);
}

Step attach(long expect, int which = 0) {
  return custom(
      "VFIO_DEVICE_ATTACH_IOMMUFD_PT",
      [=](Env& e) {
        vfio_device_attach_iommufd_pt a{};
        a.argsz = sizeof a;
        a.pt_id = ioas_id(e, which);
        return e.ioctl("cdev", VFIO_DEVICE_ATTACH_IOMMUFD_PT, &a);
      },
      expect);
}

Step detach(long expect) {
  return custom(
      "VFIO_DEVICE_DETACH_IOMMUFD_PT",
      [](Env& e) {
        vfio_device_detach_iommufd_pt d{};
        d.argsz = sizeof d;
        return e.ioctl("cdev", VFIO_DEVICE_DETACH_IOMMUFD_PT, &d);
      },
      expect);
}

}  // namespace

void add_iommufd_scenarios(std::vector<Scenario>& out) {
  const auto S = Setup::kViableGroup;
  using V = std::vector<Step>;
  const auto base = [] { return V{open_iommufd(), ioas_alloc()}; };

  out.push_back({"iommufd: allocate an IOAS", "iommufd_ioas_alloc_ioctl", S, base()});
  out.push_back({"iommufd: IOAS_ALLOC with flags is EOPNOTSUPP",
                 "iommufd_ioas_alloc_ioctl",
                 S,
                 {open_iommufd(), ioas_alloc(err(EOPNOTSUPP), 1)}});
  out.push_back({"iommufd: unknown command is ENOTTY",
                 "iommufd_fops_ioctl",
                 S,
                 {open_iommufd(), custom(
                                      "ioctl 0x3bff",
                                      [](Env& e) {
                                        uint32_t size = 8;
                                        return e.ioctl("iommufd", _IO(';', 0xff), &size);
                                      },
                                      err(ENOTTY))}});
  out.push_back({"iommufd: a size below the minimum is EINVAL",
                 "iommufd_fops_ioctl",
                 S,
                 {open_iommufd(), custom(
                                      "IOAS_ALLOC with size 4",
                                      [](Env& e) {
                                        iommu_ioas_alloc a{};
                                        a.size = 4;
                                        return e.ioctl("iommufd", IOMMU_IOAS_ALLOC, &a);
                                      },
                                      err(EINVAL))}});
  out.push_back({"iommufd: non-zero bytes past the struct are E2BIG",
                 "copy_struct_from_user",
                 S,
                 {open_iommufd(), custom(
                                      "IOAS_ALLOC with a dirty tail",
                                      [](Env& e) {
                                        struct {
                                          iommu_ioas_alloc a;
                                          uint32_t extra;
                                        } big{};
                                        big.a.size = sizeof big;
                                        big.extra = 1;
                                        return e.ioctl("iommufd", IOMMU_IOAS_ALLOC, &big);
                                      },
                                      err(E2BIG))}});
  out.push_back(
      {"iommufd: map at a fixed IOVA and unmap it", "iommufd_ioas_map", S,
       base() + V{ioas_map(0x100000, 0x4000, kFixed, 0), ioas_unmap(0x100000, 0x4000, 0x4000)}});
  out.push_back({"iommufd: overlapping map is EEXIST", "iopt_check_iova", S,
                 base() + V{ioas_map(0x100000, 0x4000, kFixed, 0),
                            ioas_map(0x102000, 0x4000, kFixed, err(EEXIST))}});
  out.push_back({"iommufd: map validation", "iommufd_ioas_map", S,
                 base() + V{ioas_map(0x100000, 0x1000, kFixed | (1u << 5), err(EOPNOTSUPP)),
                            ioas_map(0x100000, 0x1000, IOMMU_IOAS_MAP_FIXED_IOVA, err(EINVAL)),
                            ioas_map(0x100000, 0, kFixed, err(EINVAL)),
                            ioas_map(UINT64_MAX, 0x1000, kFixed, err(EOVERFLOW)),
                            ioas_map(0x100000, UINT64_MAX, kFixed, err(EOVERFLOW))}});
  out.push_back({"iommufd: map at a chosen IOVA", "iopt_alloc_iova", S,
                 base() + V{custom(
                              "IOAS_MAP without FIXED_IOVA returns a page-aligned IOVA",
                              [](Env& e) -> long {
                                iommu_ioas_map m{};
                                m.size = sizeof m;
                                m.flags = kRW;
                                m.ioas_id = ioas_id(e);
                                m.user_va = reinterpret_cast<uint64_t>(e.buffer("dma", 1 << 22));
                                m.length = 0x4000;
                                long r = e.ioctl("iommufd", IOMMU_IOAS_MAP, &m);
                                if (r < 0) return r;
                                return m.iova != 0 && m.iova % 4096 == 0;
                              },
                              1)}});
  out.push_back({"iommufd: unmap of nothing is ENOENT", "iopt_unmap_iova_range", S,
                 base() + V{ioas_unmap(0x100000, 0x1000, err(ENOENT))}});
  out.push_back(
      {"iommufd: unmap that splits an area is ENOENT", "iopt_unmap_iova_range", S,
       base() + V{ioas_map(0x100000, 0x4000, kFixed, 0), ioas_unmap(0x101000, 0x1000, err(ENOENT)),
                  ioas_unmap(0x100000, 0x4000, 0x4000)}});
  out.push_back(
      {"iommufd: unmap everything with (0, U64_MAX)", "iopt_unmap_all", S,
       base() + V{ioas_unmap(0, UINT64_MAX, 0), ioas_map(0x100000, 0x4000, kFixed, 0),
                  ioas_map(0x200000, 0x1000, kFixed, 0), ioas_unmap(0, UINT64_MAX, 0x5000)}});
  out.push_back({"iommufd: IOVA_RANGES with no room is EMSGSIZE", "iommufd_ioas_iova_ranges", S,
                 base() + V{custom(
                              "IOVA_RANGES(num_iovas 0)",
                              [](Env& e) {
                                iommu_ioas_iova_ranges r{};
                                r.size = sizeof r;
                                r.ioas_id = ioas_id(e);
                                return e.ioctl("iommufd", IOMMU_IOAS_IOVA_RANGES, &r);
                              },
                              err(EMSGSIZE))}});
  out.push_back({"iommufd: ALLOW_IOVAS with start >= last is EINVAL", "iommufd_ioas_allow_iovas", S,
                 base() + V{custom(
                              "ALLOW_IOVAS({0x2000, 0x1000})",
                              [](Env& e) {
                                iommu_iova_range range{0x2000, 0x1000};
                                iommu_ioas_allow_iovas a{};
                                a.size = sizeof a;
                                a.ioas_id = ioas_id(e);
                                a.num_iovas = 1;
                                a.allowed_iovas = reinterpret_cast<uint64_t>(&range);
                                return e.ioctl("iommufd", IOMMU_IOAS_ALLOW_IOVAS, &a);
                              },
                              err(EINVAL))}});
  out.push_back({"iommufd: copy between IOASes", "iommufd_ioas_copy", S,
                 base() + V{ioas_alloc(0, 0, 1), ioas_map(0x100000, 0x4000, kFixed, 0),
                            custom(
                                "IOAS_COPY of the mapping, then of a hole",
                                [](Env& e) -> long {
                                  iommu_ioas_copy c{};
                                  c.size = sizeof c;
                                  c.flags = kFixed;
                                  c.dst_ioas_id = ioas_id(e, 1);
                                  c.src_ioas_id = ioas_id(e, 0);
                                  c.length = 0x4000;
                                  c.src_iova = 0x100000;
                                  c.dst_iova = 0x300000;
                                  long r = e.ioctl("iommufd", IOMMU_IOAS_COPY, &c);
                                  if (r < 0) return r;
                                  c.src_iova = 0x200000;  // nothing mapped there
                                  c.dst_iova = 0x400000;
                                  return e.ioctl("iommufd", IOMMU_IOAS_COPY, &c);
                                },
                                err(ENOENT))}});
  out.push_back({"iommufd: destroy an IOAS, then it is gone", "iommufd_destroy", S,
                 base() + V{destroy(0), ioas_map(0x100000, 0x1000, kFixed, err(ENOENT)),
                            destroy(err(ENOENT))}});
  out.push_back({"iommufd: the device cdev refuses ioctls before BIND",
                 "vfio_device_fops_unl_ioctl",
                 S,
                 {open_cdev(), device_info("cdev", err(EINVAL))}});
  out.push_back({"iommufd: bind, attach, detach a device", "vfio_df_ioctl_bind_iommufd", S,
                 base() + V{open_cdev(), bind(0), attach(0), device_info("cdev", 9), detach(0)}});
  out.push_back(
      {"iommufd: an IOAS with an attached device cannot be destroyed", "iommufd_object_remove", S,
       base() + V{open_cdev(), bind(0), attach(0), destroy(err(EBUSY)), detach(0), destroy(0)}});
  out.push_back({"iommufd: attach to a missing IOAS is ENOENT", "iommufd_device_attach", S,
                 base() + V{open_cdev(), bind(0), destroy(0), attach(err(ENOENT))}});
  out.push_back({"iommufd: attach again replaces the IOAS", "iommufd_device_replace", S,
                 base() + V{ioas_alloc(0, 0, 1), open_cdev(), bind(0), attach(0), attach(0, 1),
                            destroy(0), destroy(err(EBUSY), 1)}});
  out.push_back({"iommufd: mapping past the locked-memory limit is ENOMEM, and maps nothing",
                 "iopt_pages_update_pinned", Setup::kLowMemlock,
                 // With a device attached the pages are pinned (and charged) at map time.
                 base() + V{open_cdev(), bind(0), attach(0),
                            ioas_map(0x100000, 2 * kLowMemlockBytes, kFixed, err(ENOMEM)),
                            ioas_map(0x100000, kLowMemlockBytes / 2, kFixed, 0),
                            ioas_unmap(0x100000, kLowMemlockBytes / 2, kLowMemlockBytes / 2)}});
  out.push_back({"iommufd: the group cannot be opened while its device is bound via cdev",
                 "vfio_group_fops_open", S,
                 base() + V{open_cdev(), bind(0), open_group("group", 1, err(EBUSY))}});
  out.push_back({"iommufd: binding the cdev while the group is open is EBUSY",
                 "vfio_device_block_group", S,
                 base() + V{open_group(), open_cdev(), bind(err(EBUSY))}});
  out.push_back({"iommufd: a group attached to an iommufd",
                 "vfio_group_ioctl_set_container",
                 S,
                 {open_iommufd(), open_group(), set_container("group", "iommufd", 0),
                  group_status("group", VFIO_GROUP_FLAGS_VIABLE | VFIO_GROUP_FLAGS_CONTAINER_SET),
                  get_device_fd("group", "dev", kFd), device_info("dev", 9)}});
  out.push_back({"iommufd: the iommufd answers type1 container ioctls",
                 "iommufd_vfio_ioctl",
                 S,
                 {open_iommufd(), api_version("iommufd", VFIO_API_VERSION),
                  check_extension("iommufd", VFIO_TYPE1v2_IOMMU, 1),
                  map_dma("iommufd", 0x100000, 4096, err(ENODEV))}});
  out.push_back(
      {"iommufd: type1 maps on a group's compat IOAS",
       "iommufd_vfio_map_dma",
       S,
       {open_iommufd(), open_group(), set_container("group", "iommufd", 0),
        map_dma("iommufd", 0x100000, 0x4000, 0), map_dma("iommufd", 0x100000, 0x4000, err(EEXIST)),
        // vfio_compat's v2 unmap says ENOENT where type1 says EINVAL.
        unmap_dma("iommufd", 0x101000, 0x1000, err(ENOENT)),
        unmap_dma("iommufd", 0x100000, 0x4000, 0x4000)}});
}

}  // namespace uvfio::conformance
