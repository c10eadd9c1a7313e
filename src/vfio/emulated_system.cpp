#include "vfio/emulated_system.h"

#include <sys/mman.h>

#include <charconv>

#include "iommufd/iommufd_context.h"
#include "vfio/container.h"
#include "vfio/device_cdev_file.h"

namespace uvfio::vfio {
namespace {

// Parses the decimal number that makes up all of `s`; false otherwise.
bool parse_index(std::string_view s, int* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size() && *out >= 0;
}

}  // namespace

EmulatedSystem::EmulatedSystem(std::shared_ptr<Host> host, Credentials creds)
    : host_(std::move(host)), creds_(creds), fds_(std::move(creds)) {}

EmulatedSystem::~EmulatedSystem() {
  fds_.close_all();
}

int EmulatedSystem::open(const std::string& path, int /*flags*/) {
  std::shared_ptr<VfioFile> file;
  std::string_view p = path;
  int index = 0;
  if (p == "/dev/vfio/vfio") {
    file = std::make_shared<Container>(*host_);
  } else if (p == "/dev/iommu") {
    file = std::make_shared<IommufdContext>(*host_, creds_);
  } else if (p.starts_with("/dev/vfio/devices/vfio") &&
             parse_index(p.substr(sizeof("/dev/vfio/devices/vfio") - 1), &index)) {
    auto dev = host_->device_by_cdev(index);
    // 6.12 creates no cdev node for no-IOMMU devices.
    if (!dev || dev->driver() != DriverState::kVfio || dev->group()->noiommu()) return -ENOENT;
    file = std::make_shared<DeviceCdevFile>(*host_, dev, creds_);
  } else if (p.starts_with("/dev/vfio/noiommu-") &&
             parse_index(p.substr(sizeof("/dev/vfio/noiommu-") - 1), &index)) {
    auto group = host_->group(index, GroupType::kNoIommu);
    if (!group) return -ENOENT;
    auto r = open_group_file(group, creds_);
    if (!r) return -r.error();
    file = std::move(*r);
  } else if (p.starts_with("/dev/vfio/") &&
             parse_index(p.substr(sizeof("/dev/vfio/") - 1), &index)) {
    auto group = host_->group(index, GroupType::kIommu);
    if (!group) return -ENOENT;
    auto r = open_group_file(group, creds_);
    if (!r) return -r.error();
    file = std::move(*r);
  } else {
    return -ENOENT;
  }
  int fd = fds_.install(file);
  if (fd < 0) file->release();  // e.g. a group file would otherwise stay "open" forever
  return fd;
}

int EmulatedSystem::close(int fd) {
  return fds_.close(fd);
}

long EmulatedSystem::ioctl(int fd, unsigned long request, unsigned long arg) {
  auto file = fds_.get(fd);
  if (!file) return -EBADF;
  return file->ioctl(fds_, request, arg);
}

ssize_t EmulatedSystem::pread(int fd, void* buf, size_t count, uint64_t offset) {
  auto file = fds_.get(fd);
  if (!file) return -EBADF;
  return file->read(buf, count, offset);
}

ssize_t EmulatedSystem::pwrite(int fd, const void* buf, size_t count, uint64_t offset) {
  auto file = fds_.get(fd);
  if (!file) return -EBADF;
  return file->write(buf, count, offset);
}

void* EmulatedSystem::mmap(int fd, size_t length, int prot, int flags, uint64_t offset) {
  auto file = fds_.get(fd);
  if (!file) return reinterpret_cast<void*>(-EBADF);
  return file->mmap(length, prot, flags, offset);
}

int EmulatedSystem::munmap(void* addr, size_t length) {
  return ::munmap(addr, length) == 0 ? 0 : -errno;
}

}  // namespace uvfio::vfio
