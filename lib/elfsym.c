/* ELF64 symbol lookup with bounded reads: files come from other processes'
 * mount namespaces and may be truncated or hostile, so nothing is trusted. */
#include "elfsym.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Symbol tables larger than this are treated as corrupt, not malloc'ed. */
#define ELF_MAX_TABLE_BYTES (256u << 20)

static int elf_pread(const struct elf_file *e, void *buf, uint64_t len, uint64_t off)
{
    if (off > e->size_bytes || len > e->size_bytes - off)
        return -ENOEXEC;
    uint8_t *p = buf;
    while (len > 0) {
        ssize_t n = pread(e->fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return n < 0 ? -errno : -ENOEXEC;
        p += n;
        off += (uint64_t)n;
        len -= (uint64_t)n;
    }
    return 0;
}

static void *elf_read_alloc(const struct elf_file *e, uint64_t len, uint64_t off, int *err)
{
    if (len == 0 || len > ELF_MAX_TABLE_BYTES) {
        *err = -ENOEXEC;
        return NULL;
    }
    void *buf = malloc(len);
    if (!buf) {
        *err = -ENOMEM;
        return NULL;
    }
    *err = elf_pread(e, buf, len, off);
    if (*err) {
        free(buf);
        return NULL;
    }
    return buf;
}

static int elf_check_header(const Elf64_Ehdr *eh)
{
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_ident[EI_DATA] != ELFDATA2LSB || eh->e_machine != EM_X86_64)
        return -ENOEXEC;
    if (eh->e_phentsize != sizeof(Elf64_Phdr))
        return -ENOEXEC;
    if (eh->e_shnum != 0 && eh->e_shentsize != sizeof(Elf64_Shdr))
        return -ENOEXEC;
    return 0;
}

int elfsym_open(struct elf_file *e, const char *path)
{
    memset(e, 0, sizeof(*e));
    e->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (e->fd < 0)
        return -errno;
    struct stat st;
    int rc = fstat(e->fd, &st) == 0 ? 0 : -errno;
    if (rc == 0 && !S_ISREG(st.st_mode))
        rc = -ENOEXEC;
    if (rc == 0) {
        e->size_bytes = (uint64_t)st.st_size;
        rc = elf_pread(e, &e->eh, sizeof(e->eh), 0);
    }
    if (rc == 0)
        rc = elf_check_header(&e->eh);
    /* Section headers are optional (sstrip); their absence only limits lookup. */
    if (rc == 0 && e->eh.e_shnum != 0) {
        int err;
        e->shdrs = elf_read_alloc(e, (uint64_t)e->eh.e_shnum * sizeof(Elf64_Shdr), e->eh.e_shoff,
                                  &err);
        if (!e->shdrs && err == -ENOMEM)
            rc = err;
    }
    if (rc != 0)
        elfsym_close(e);
    return rc;
}

static void elf_symtab_free(struct elf_symtab *t)
{
    free(t->syms);
    free(t->strs);
    memset(t, 0, sizeof(*t));
}

void elfsym_close(struct elf_file *e)
{
    if (e->fd >= 0)
        close(e->fd);
    free(e->shdrs);
    elf_symtab_free(&e->dyn);
    elf_symtab_free(&e->sym);
    memset(e, 0, sizeof(*e));
    e->fd = -1;
}

int elfsym_first_load_vaddr(const struct elf_file *e, uint64_t *vaddr)
{
    for (unsigned i = 0; i < e->eh.e_phnum; i++) {
        Elf64_Phdr ph;
        int rc = elf_pread(e, &ph, sizeof(ph), e->eh.e_phoff + (uint64_t)i * sizeof(ph));
        if (rc)
            return rc;
        if (ph.p_type == PT_LOAD) {
            *vaddr = ph.p_vaddr & ~(uint64_t)0xfff;
            return 0;
        }
    }
    return -ENOEXEC;
}

/* Loads the first section of `type` and the string table it links to. */
static void elf_symtab_load(struct elf_file *e, struct elf_symtab *t, uint32_t type)
{
    t->loaded = true;
    if (!e->shdrs)
        return;
    for (unsigned i = 0; i < e->eh.e_shnum; i++) {
        const Elf64_Shdr *sh = &e->shdrs[i];
        if (sh->sh_type != type)
            continue;
        if (sh->sh_link >= e->eh.e_shnum || sh->sh_entsize != sizeof(Elf64_Sym))
            return;
        const Elf64_Shdr *strsh = &e->shdrs[sh->sh_link];
        int err;
        t->syms = elf_read_alloc(e, sh->sh_size, sh->sh_offset, &err);
        t->strs = elf_read_alloc(e, strsh->sh_size, strsh->sh_offset, &err);
        if (!t->syms || !t->strs) {
            elf_symtab_free(t);
            t->loaded = true;
            return;
        }
        t->nsyms = sh->sh_size / sizeof(Elf64_Sym);
        t->strs_len = strsh->sh_size;
        return;
    }
}

static int elf_symtab_find(const struct elf_symtab *t, const char *name, uint64_t *value)
{
    size_t name_len = strlen(name);
    for (uint64_t i = 0; i < t->nsyms; i++) {
        const Elf64_Sym *s = &t->syms[i];
        if (s->st_shndx == SHN_UNDEF || s->st_value == 0)
            continue;
        /* name_len + 1 bytes must fit so the NUL is inside the table. */
        if (s->st_name >= t->strs_len || t->strs_len - s->st_name < name_len + 1)
            continue;
        if (memcmp(t->strs + s->st_name, name, name_len + 1) == 0) {
            *value = s->st_value;
            return 0;
        }
    }
    return -ENOENT;
}

int elfsym_lookup(struct elf_file *e, const char *name, uint64_t *value)
{
    if (!e->dyn.loaded)
        elf_symtab_load(e, &e->dyn, SHT_DYNSYM);
    if (elf_symtab_find(&e->dyn, name, value) == 0)
        return 0;
    if (!e->sym.loaded)
        elf_symtab_load(e, &e->sym, SHT_SYMTAB);
    return elf_symtab_find(&e->sym, name, value);
}

/* DT_NEEDED entries come from the SHT_DYNAMIC section and the string table it
 * links to (.dynstr); both are read bounded like the symbol tables. */
bool elfsym_needs(struct elf_file *e, const char *prefix)
{
    if (!e->shdrs)
        return false;
    size_t prefix_len = strlen(prefix);
    for (unsigned i = 0; i < e->eh.e_shnum; i++) {
        const Elf64_Shdr *sh = &e->shdrs[i];
        if (sh->sh_type != SHT_DYNAMIC || sh->sh_link >= e->eh.e_shnum)
            continue;
        const Elf64_Shdr *strsh = &e->shdrs[sh->sh_link];
        int err;
        Elf64_Dyn *dyn = elf_read_alloc(e, sh->sh_size, sh->sh_offset, &err);
        char *strs = elf_read_alloc(e, strsh->sh_size, strsh->sh_offset, &err);
        bool found = false;
        for (uint64_t k = 0; dyn && strs && k < sh->sh_size / sizeof(Elf64_Dyn); k++) {
            if (dyn[k].d_tag == DT_NULL)
                break;
            uint64_t off = dyn[k].d_un.d_val;
            if (dyn[k].d_tag == DT_NEEDED && off < strsh->sh_size &&
                strsh->sh_size - off > prefix_len && memcmp(strs + off, prefix, prefix_len) == 0) {
                found = true;
                break;
            }
        }
        free(dyn);
        free(strs);
        return found;
    }
    return false;
}
