/* ELF64 symbol lookup for the module that holds the CPython C API: reads only
 * headers and symbol tables, with every offset checked against the file size. */
#ifndef PYMEMTOP_LIB_ELFSYM_H
#define PYMEMTOP_LIB_ELFSYM_H

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>

struct elf_symtab {
    Elf64_Sym *syms;
    uint64_t nsyms;
    char *strs;
    uint64_t strs_len;
    bool loaded; /* tried once; syms == NULL if absent or unreadable */
};

struct elf_file {
    int fd;
    uint64_t size_bytes;
    Elf64_Ehdr eh;
    Elf64_Shdr *shdrs; /* NULL if the file has no section headers */
    struct elf_symtab dyn, sym;
};

/* 0 or -errno: -ENOEXEC if not a little-endian x86-64 ELF64 or truncated. */
int elfsym_open(struct elf_file *e, const char *path);
void elfsym_close(struct elf_file *e);

/* p_vaddr of the first PT_LOAD, rounded down to its page: subtract it from
 * the start of the offset-0 mapping to get the load bias. 0 or -errno. */
int elfsym_first_load_vaddr(const struct elf_file *e, uint64_t *vaddr);

/* Value of a defined symbol, from .dynsym then .symtab. 0 or -ENOENT. */
int elfsym_lookup(struct elf_file *e, const char *name, uint64_t *value);

/* True when the file's dynamic section names a needed library whose name
 * starts with `prefix` (e.g. "libpython"): such a program is still being
 * loaded by ld.so while that library is not in its maps yet. */
bool elfsym_needs(struct elf_file *e, const char *prefix);

#endif
