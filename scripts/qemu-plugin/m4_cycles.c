/* Cortex-M4 cycle estimate from the executed instruction mix, for qemu-system-arm. Counts
 * instructions and estimated cycles between the execution of a region's begin and end
 * addresses (functions the firmware calls around what it measures), summed over every
 * entry of the region, and prints per region at exit:
 *   "region NAME entries E instructions I cycles C" and a per-class line for each;
 * with the argument profile=1 also "pc ADDRESS region NAME instructions I" for every
 * instruction executed inside a region (a profile by address, mapped to functions by
 * scripts/m4-cycles --profile).
 *
 *   gcc -shared -fPIC -O2 -o libm4_cycles.so m4_cycles.c
 *   qemu-system-arm ... -plugin ./libm4_cycles.so,region=dense:0x1234:0x1240,region=...
 *
 * Cycles follow the Cortex-M4 Technical Reference Manual (r0p1, tables 3-1 and 7-1) with
 * these simplifications, which make it an estimate: no memory wait states or bus
 * contention (flash and SRAM at zero wait); a single load or store 2 cycles, 1 when it
 * directly follows another load or store (the pipelined case); LDM/STM/PUSH/POP/LDRD/STRD
 * and VLDM/VSTM/VPUSH/VPOP 1 + N; every change of flow (taken branch, BX, POP or LDR of the
 * PC) adds a refill of 2 cycles (the TRM gives 1 to 3); IT 1 cycle (the core may fold it);
 * MLA/MLS 2; other multiplies, SMLAD and friends, SMULL/SMLAL 1; SDIV/UDIV 7 (2 to 12);
 * VMLA/VMLS/VNMLA/VFMA and friends 3; VDIV/VSQRT 14; other FPU data processing 1.
 *
 * Plugin API version 1 (QEMU 7.2); Debian ships no qemu-plugin.h, so the declarations
 * used are written out here as that header has them.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_cb_flags { QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_CB_R_REGS, QEMU_PLUGIN_CB_RW_REGS };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);
typedef void (*qemu_plugin_vcpu_udata_cb_t)(unsigned int vcpu_index, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
void qemu_plugin_register_vcpu_insn_exec_cb(struct qemu_plugin_insn *insn, qemu_plugin_vcpu_udata_cb_t cb,
                                            enum qemu_plugin_cb_flags flags, void *userdata);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
void qemu_plugin_outs(const char *string);

__attribute__((visibility("default"))) int qemu_plugin_version = 1;

enum klass { ALU, LOADSTORE, MULTIPLE, MAC, MULLONG, DIV, BRANCH, IT, FP_SIMPLE, FP_MAC, FP_DIV, FP_MEM, FP_MULTIPLE,
             CLASSES };
static const char *names[CLASSES] = {"alu",      "load/store", "ldm/stm",  "mla/mls",   "multiply", "divide", "branch",
                                     "it",       "fp",         "fp mac",   "fp div",    "fp load/store", "fp multiple"};

/* What the translator decoded about one instruction. */
struct insn {
    uint64_t pc, next;
    uint8_t klass, cycles, size;
    uint64_t hits[8];
    struct insn *all; /* every decoded instruction, for the profile */
};
static struct insn *decoded;
static bool profile;

#define MAX_REGIONS 8
struct region {
    char name[32];
    uint64_t begin, end;
    uint64_t entries, insns, cycles, by_class[CLASSES], cycles_by_class[CLASSES];
};
static struct region regions[MAX_REGIONS];
static int n_regions;
static int active = -1;
static uint64_t expected_next = UINT64_MAX;
static bool last_was_mem;

static unsigned popcount(unsigned v) { return (unsigned)__builtin_popcount(v); }

/* Classifies a Thumb-2 instruction (hw1, hw2) into a class and its base cycles. */
static void classify(uint16_t hw1, uint16_t hw2, bool wide, uint8_t *klass, uint8_t *cycles) {
    *klass = ALU;
    *cycles = 1;
    if (!wide) {
        if ((hw1 >> 12) == 0x5 || (hw1 >> 13) == 0x3 || (hw1 >> 12) == 0x8 || (hw1 >> 12) == 0x9 ||
            (hw1 >> 11) == 0x9) {
            *klass = LOADSTORE, *cycles = 2;
        } else if ((hw1 & 0xF600) == 0xB400) { /* PUSH / POP */
            *klass = MULTIPLE, *cycles = 1 + popcount(hw1 & 0x1FF);
        } else if ((hw1 >> 12) == 0xC) { /* LDM / STM */
            *klass = MULTIPLE, *cycles = 1 + popcount(hw1 & 0xFF);
        } else if ((hw1 >> 12) == 0xD && ((hw1 >> 9) & 7) != 7) { /* B<cond> */
            *klass = BRANCH;
        } else if ((hw1 >> 11) == 0x1C || (hw1 & 0xFF00) == 0x4700) { /* B, BX, BLX */
            *klass = BRANCH;
        } else if ((hw1 & 0xFF00) == 0xBF00 && (hw1 & 0xF) != 0) {
            *klass = IT;
        }
        return;
    }
    if ((hw1 & 0xFE40) == 0xE840) {
        /* LDRD/STRD, exclusives, TBB/TBH (treated as a dual access) */
        *klass = MULTIPLE, *cycles = 3;
    } else if ((hw1 & 0xFE40) == 0xE800) { /* LDM/STM */
        *klass = MULTIPLE, *cycles = 1 + popcount(hw2 & 0xDFFF);
    } else if ((hw1 >> 9) == 0x7C) { /* LDR/STR single, any size */
        *klass = LOADSTORE, *cycles = 2;
    } else if ((hw1 & 0xFF80) == 0xFB00) { /* MUL, MLA, MLS, SMLAD, SMLAxy, SMMUL... */
        bool mla_mls = (hw1 & 0xFFF0) == 0xFB00 && (((hw2 >> 12) != 0xF) || ((hw2 >> 4) & 0xF) == 1);
        *klass = mla_mls ? MAC : MULLONG, *cycles = mla_mls ? 2 : 1;
    } else if ((hw1 & 0xFF80) == 0xFB80) { /* SMULL, UMULL, SMLAL, UMLAL, SDIV, UDIV */
        bool div = (hw1 & 0xFFF0) == 0xFB90 || (hw1 & 0xFFF0) == 0xFBB0;
        *klass = div ? DIV : MULLONG, *cycles = div ? 7 : 1;
    } else if ((hw1 >> 11) == 0x1E && (hw2 & 0x8000)) { /* B, BL, B<cond> (32-bit) */
        *klass = BRANCH;
    } else if ((hw1 & 0xFE00) == 0xEC00 && ((hw2 >> 9) & 7) == 5) { /* VLDM/VSTM/VPUSH/VPOP, VMOV 2 regs */
        bool p = hw1 & 0x100, w = hw1 & 0x20;
        if ((hw1 & 0xFFE0) == 0xEC40) {
            *klass = FP_SIMPLE, *cycles = 1;
        } else if (!p || w) {
            *klass = FP_MULTIPLE, *cycles = 1 + (hw2 & 0xFF);
        } else {
            *klass = FP_MEM, *cycles = 2;
        }
    } else if ((hw1 & 0xFF00) == 0xED00 && ((hw2 >> 9) & 7) == 5) { /* VLDR/VSTR (or VLDM DB) */
        bool w = hw1 & 0x20;
        if (w) {
            *klass = FP_MULTIPLE, *cycles = 1 + (hw2 & 0xFF);
        } else {
            *klass = FP_MEM, *cycles = 2;
        }
    } else if ((hw1 & 0xFF00) == 0xEE00 && ((hw2 >> 9) & 7) == 5 && !(hw2 & 0x10)) { /* VFP data processing */
        unsigned opc = ((hw1 >> 5) & 4) | ((hw1 >> 4) & 3); /* bits 7, 5, 4 */
        switch (opc) {
        case 0: case 1: case 5: case 6:
            *klass = FP_MAC, *cycles = 3;
            break;
        case 4:
            *klass = FP_DIV, *cycles = 14;
            break;
        case 7:
            if ((hw1 & 0xF) == 1 && (hw2 & 0xC0) == 0xC0) {
                *klass = FP_DIV, *cycles = 14; /* VSQRT */
            } else {
                *klass = FP_SIMPLE;
            }
            break;
        default:
            *klass = FP_SIMPLE;
        }
    } else if ((hw1 & 0xFF00) == 0xEE00) { /* VMOV core <-> FP, VMRS, VMSR */
        *klass = FP_SIMPLE;
    }
}

static void on_exec(unsigned int vcpu, void *udata) {
    (void)vcpu;
    struct insn *in = udata;
    /* A change of flow ended the previous instruction: charge its refill. */
    bool flow = expected_next != UINT64_MAX && in->pc != expected_next;
    for (int r = 0; r < n_regions; r++) {
        if (in->pc == regions[r].begin) {
            active = r;
            regions[r].entries++;
            flow = false;
        } else if (in->pc == regions[r].end && active == r) {
            active = -1;
        }
    }
    if (active >= 0) {
        struct region *g = &regions[active];
        unsigned c = in->cycles;
        bool mem = in->klass == LOADSTORE || in->klass == FP_MEM;
        if (mem && last_was_mem) {
            c = 1;
        }
        if (flow) {
            g->cycles += 2;
            g->cycles_by_class[BRANCH] += 2;
        }
        g->insns++;
        in->hits[active]++;
        g->cycles += c;
        g->by_class[in->klass]++;
        g->cycles_by_class[in->klass] += c;
        last_was_mem = mem;
    }
    expected_next = in->next;
}

static void on_translate(qemu_plugin_id_t id, struct qemu_plugin_tb *tb) {
    (void)id;
    size_t n = qemu_plugin_tb_n_insns(tb);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *qi = qemu_plugin_tb_get_insn(tb, i);
        struct insn *in = calloc(1, sizeof *in);
        in->all = decoded;
        decoded = in;
        const uint8_t *b = qemu_plugin_insn_data(qi);
        in->size = (uint8_t)qemu_plugin_insn_size(qi);
        in->pc = qemu_plugin_insn_vaddr(qi);
        in->next = in->pc + in->size;
        uint16_t hw1 = (uint16_t)(b[0] | b[1] << 8);
        uint16_t hw2 = in->size >= 4 ? (uint16_t)(b[2] | b[3] << 8) : 0;
        classify(hw1, hw2, in->size >= 4, &in->klass, &in->cycles);
        qemu_plugin_register_vcpu_insn_exec_cb(qi, on_exec, QEMU_PLUGIN_CB_NO_REGS, in);
    }
}

static void plugin_exit(qemu_plugin_id_t id, void *userdata) {
    (void)id;
    (void)userdata;
    char line[256];
    for (struct insn *in = decoded; profile && in; in = in->all) {
        for (int r = 0; r < n_regions; r++) {
            if (in->hits[r]) {
                snprintf(line, sizeof line, "pc %#" PRIx64 " region %.31s instructions %" PRIu64 "\n", in->pc,
                         regions[r].name, in->hits[r]);
                qemu_plugin_outs(line);
            }
        }
    }
    for (int r = 0; r < n_regions; r++) {
        struct region *g = &regions[r];
        snprintf(line, sizeof line, "region %.31s entries %" PRIu64 " instructions %" PRIu64 " cycles %" PRIu64 "\n",
                 g->name, g->entries, g->insns, g->cycles);
        qemu_plugin_outs(line);
        for (int k = 0; k < CLASSES; k++) {
            if (g->by_class[k] || g->cycles_by_class[k]) {
                snprintf(line, sizeof line, "region %.31s class %s instructions %" PRIu64 " cycles %" PRIu64 "\n",
                         g->name, names[k], g->by_class[k], g->cycles_by_class[k]);
                qemu_plugin_outs(line);
            }
        }
    }
}

__attribute__((visibility("default"))) int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info,
                                                               int argc, char **argv) {
    (void)info;
    for (int i = 0; i < argc && n_regions < MAX_REGIONS; i++) {
        /* region=NAME:BEGIN:END, profile=1 */
        if (strcmp(argv[i], "profile=1") == 0) {
            profile = true;
            continue;
        }
        if (strncmp(argv[i], "region=", 7) != 0) {
            continue;
        }
        struct region *g = &regions[n_regions];
        char *spec = argv[i] + 7, *colon = strchr(spec, ':');
        if (!colon) {
            return -1;
        }
        size_t len = (size_t)(colon - spec) < sizeof g->name - 1 ? (size_t)(colon - spec) : sizeof g->name - 1;
        memcpy(g->name, spec, len);
        char *rest;
        g->begin = strtoull(colon + 1, &rest, 0);
        if (*rest != ':') {
            return -1;
        }
        g->end = strtoull(rest + 1, NULL, 0);
        n_regions++;
    }
    qemu_plugin_register_vcpu_tb_trans_cb(id, on_translate);
    qemu_plugin_register_atexit_cb(id, plugin_exit, NULL);
    return 0;
}
