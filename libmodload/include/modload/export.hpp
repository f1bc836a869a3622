// What libmodload.so exports. The library is compiled with hidden visibility, so only what is
// marked MODLOAD_API is its ABI: every public class and free function of <modload/...>, and none
// of modload::detail. The README's "ABI and soname" section says when the soname changes.
#pragma once

/// Exports a class (its out-of-line members, vtable and typeinfo) or a function from libmodload.so.
/// The standard attribute spelling, so that it can follow [[nodiscard]] on a class, which GCC's
/// __attribute__ cannot.
#define MODLOAD_API [[gnu::visibility("default")]]
