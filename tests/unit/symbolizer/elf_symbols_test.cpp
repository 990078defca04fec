// ElfSymbols / ElfUserSymbolizer on stripped copies of a fixture library whose local function
// only a separate debug file names (build-id and debuglink layouts, the debuglink's CRC), and
// the symbolizer's hygiene: no descriptor of the process is touched, caches stay bounded.
#include "symbolizer/elf_symbols.h"

#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "symbolizer/build_id.h"
#include "symbolizer/elf_user_symbolizer.h"
#include "test_util.h"

namespace zerotrace::symbolizer {
namespace {

namespace fs = std::filesystem;
using zerotrace::testing::TempDir;

uint32_t Self() { return static_cast<uint32_t>(getpid()); }

void Shell(const std::string& cmd) { ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd; }

// Copies the fixture to DIR/NAME, splits its symbols into a debug file and strips it.
// Returns the debug file's path.
std::string MakeStripped(const std::string& dir, const std::string& name) {
  const std::string lib = dir + "/" + name, debug = dir + "/" + name + ".debug";
  fs::copy_file(ZT_SYMBOLIZER_FIXTURE, lib, fs::copy_options::overwrite_existing);
  EXPECT_EQ(std::system(("objcopy --only-keep-debug " + lib + " " + debug).c_str()), 0);
  EXPECT_EQ(std::system(("strip --strip-all " + lib).c_str()), 0);
  return debug;
}

using HiddenFn = int (*)(int);

// dlopens `lib` and returns the address of its local function (through the exported accessor).
uint64_t HiddenAddress(const std::string& lib, void** handle) {
  *handle = dlopen(lib.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!*handle) return 0;
  auto accessor = reinterpret_cast<HiddenFn (*)()>(dlsym(*handle, "zt_fixture_hidden_address"));
  return accessor ? reinterpret_cast<uint64_t>(accessor()) : 0;
}

TEST(ElfSymbolsTest, UnstrippedFileNamesItsLocalFunction) {
  void* h = nullptr;
  const uint64_t addr = HiddenAddress(ZT_SYMBOLIZER_FIXTURE, &h);
  ASSERT_NE(addr, 0u) << dlerror();
  ElfUserSymbolizer sym("/proc", "/tmp", {});
  auto f = sym.Symbolize(Self(), addr + 1);
  EXPECT_EQ(f.function, "zt_fixture_hidden");
  dlclose(h);
}

TEST(ElfSymbolsTest, StrippedFileFindsItsDebugFileByBuildId) {
  const std::string dir = TempDir();
  const std::string debug = MakeStripped(dir, "libbyid.so");
  auto id = ReadBuildId(dir + "/libbyid.so");
  ASSERT_TRUE(id.ok()) << id.error().message;
  const std::string debug_dir = dir + "/debug";
  fs::create_directories(debug_dir + "/.build-id/" + id.value().substr(0, 2));
  fs::rename(debug, debug_dir + "/.build-id/" + id.value().substr(0, 2) + "/" +
                        id.value().substr(2) + ".debug");

  // Without the debug folder: only .dynsym, which lacks the local function.
  auto bare = ElfSymbols::Load({"", dir + "/libbyid.so"}, {});
  EXPECT_FALSE(bare.from_debug_file());
  auto loaded = ElfSymbols::Load({"", dir + "/libbyid.so"}, {debug_dir});
  EXPECT_TRUE(loaded.from_debug_file());
  EXPECT_GT(loaded.size(), bare.size());

  void* h = nullptr;
  const uint64_t addr = HiddenAddress(dir + "/libbyid.so", &h);
  ASSERT_NE(addr, 0u) << dlerror();
  ElfUserSymbolizer without("/proc", "/tmp", {});
  EXPECT_EQ(without.Symbolize(Self(), addr).function, "");
  ElfUserSymbolizer with("/proc", "/tmp", {debug_dir});
  auto f = with.Symbolize(Self(), addr);
  EXPECT_EQ(f.function, "zt_fixture_hidden");
  EXPECT_EQ(f.module, dir + "/libbyid.so");
  EXPECT_EQ(f.build_id, id.value());
  dlclose(h);
}

TEST(ElfSymbolsTest, StrippedFileFindsItsDebugFileByDebugLinkWithMatchingCrc) {
  const std::string dir = TempDir();
  const std::string debug = MakeStripped(dir, "liblink.so");
  Shell("objcopy --remove-section .note.gnu.build-id --add-gnu-debuglink=" + debug + " " + dir +
        "/liblink.so");
  fs::create_directories(dir + "/.debug");
  fs::rename(debug, dir + "/.debug/liblink.so.debug");
  void* h = nullptr;
  const uint64_t addr = HiddenAddress(dir + "/liblink.so", &h);
  ASSERT_NE(addr, 0u) << dlerror();
  ElfUserSymbolizer sym("/proc", "/tmp", {});
  EXPECT_EQ(sym.Symbolize(Self(), addr).function, "zt_fixture_hidden");
  dlclose(h);
}

TEST(ElfSymbolsTest, DebugLinkWithAnotherFilesCrcIsNotUsed) {
  const std::string dir = TempDir();
  const std::string debug = MakeStripped(dir, "libcrc.so");
  Shell("objcopy --remove-section .note.gnu.build-id --add-gnu-debuglink=" + debug + " " + dir +
        "/libcrc.so");
  // Same name, other content: a stale debug file must not name anything.
  Shell("printf 'garbage' >> " + debug);
  void* h = nullptr;
  const uint64_t addr = HiddenAddress(dir + "/libcrc.so", &h);
  ASSERT_NE(addr, 0u) << dlerror();
  ElfUserSymbolizer sym("/proc", "/tmp", {});
  auto f = sym.Symbolize(Self(), addr);
  EXPECT_EQ(f.function, "");
  EXPECT_EQ(f.module, dir + "/libcrc.so");  // still module+offset
  dlclose(h);
}

TEST(ElfSymbolsTest, NotAnElfGivesNoSymbols) {
  const std::string path = TempDir() + "/text";
  Shell("echo hello > " + path);
  auto s = ElfSymbols::Load({"", path}, {});
  EXPECT_EQ(s.size(), 0u);
  EXPECT_FALSE(s.FunctionAt(0).has_value());
  auto missing = ElfSymbols::Load({"", path + ".missing"}, {});
  EXPECT_EQ(missing.size(), 0u);
}

TEST(ElfSymbolsTest, CacheIsBoundedByFiles) {
  ElfSymbolsCache cache({}, /*max_files=*/2);
  const ElfSymbols::Location self{"", "/proc/self/exe"};
  for (uint64_t inode = 1; inode <= 5; ++inode) cache.Get({0, inode}, {self});
  EXPECT_EQ(cache.files(), 2u);
  EXPECT_GT(cache.bytes(), 0u);
}

int CountOpenFds() {
  int n = 0;
  DIR* d = opendir("/proc/self/fd");
  while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

// bcc 0.26's symbol cache closed a random descriptor of its caller whenever it was built; the
// daemon lost its listening socket that way. Symbolizing many processes must leave every
// descriptor of ours alone.
TEST(ElfSymbolsTest, SymbolizingManyProcessesTouchesNoDescriptor) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ElfUserSymbolizer sym;
  const uint64_t addr = reinterpret_cast<uint64_t>(&getpid);
  sym.Symbolize(Self(), addr);  // first use opens nothing that stays open
  const int before = CountOpenFds();
  for (int i = 0; i < 40; ++i) {
    const pid_t child = fork();
    if (child == 0) {
      pause();
      _exit(0);
    }
    ASSERT_GT(child, 0);
    sym.Prepare(static_cast<uint32_t>(child));
    auto f = sym.Symbolize(static_cast<uint32_t>(child), addr);
    EXPECT_NE(f.function.find("getpid"), std::string::npos) << f.function;
    sym.Forget(static_cast<uint32_t>(child));
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
  }
  EXPECT_EQ(CountOpenFds(), before);
  EXPECT_NE(fcntl(pipe_fds[0], F_GETFD), -1);
  EXPECT_NE(fcntl(pipe_fds[1], F_GETFD), -1);
  EXPECT_EQ(sym.processes(), 1u);  // this process only: every child was forgotten
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace zerotrace::symbolizer
