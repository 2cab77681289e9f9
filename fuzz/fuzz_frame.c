/*
 * fuzz_frame.c - libFuzzer target for the HTTP framing guard (frame.c), the first code that
 * reads a client's bytes. The first input byte picks how the rest is split into reads; the
 * invariants:
 *   - the verdict and what is forwarded do not depend on how the bytes arrive (whole, or in
 *     pieces of any size);
 *   - what is forwarded from accepted input is itself strictly framed: fed to a fresh guard it
 *     comes out unchanged, as the same number of complete requests, with no refusal;
 *   - every refusal carries an HTTP status and a reason;
 *   - no step claims more bytes than it was given.
 */
#include "fuzz_common.h"
#include "hocvu/frame.h"

#define HEAD_MAX 2048
#define OUT_MAX (1 << 16) /* libFuzzer inputs are 4 KiB by default */

static size_t limit_of(const char *method, const char *path, void *arg)
{
    (void)method;
    (void)arg;
    if (strcmp(path, "/e") == 0)
        return 64;
    if (strcmp(path, "/b") == 0)
        return 4096;
    return 0;
}

typedef struct {
    char *out;
    size_t len;
    int requests;
    int status;
    size_t consumed; /* bytes of input read before the refusal, or all */
} run_t;

static void feed_all(hv_frame_t *f, run_t *r, const uint8_t *p, size_t n)
{
    size_t done = 0;
    while (done < n && !r->status) {
        hv_frame_step_t st = hv_frame_feed(f, p + done, n - done);
        FUZZ_ASSERT(st.used <= n - done);
        FUZZ_ASSERT(st.used > 0 || st.event != HV_FRAME_MORE);
        if (st.keep && r->len + st.used <= OUT_MAX) {
            memcpy(r->out + r->len, p + done, st.used);
            r->len += st.used;
        }
        done += st.used;
        if (st.event == HV_FRAME_CHUNK && r->len + 20 <= OUT_MAX)
            r->len += hv_frame_chunk_line(f, r->out + r->len);
        else if (st.event == HV_FRAME_DONE)
            r->requests++;
        else if (st.event == HV_FRAME_REFUSE) {
            FUZZ_ASSERT(f->status >= 400 && f->status <= 505);
            FUZZ_ASSERT(f->reason && f->reason[0]);
            r->status = f->status;
        }
    }
    r->consumed += done;
}

static run_t run(const uint8_t *p, size_t n, size_t piece)
{
    run_t r = {malloc(OUT_MAX + 32), 0, 0, 0, 0};
    hv_frame_t f;

    hv_frame_init(&f, HEAD_MAX, limit_of, NULL);
    for (size_t off = 0; off < n && !r.status; off += piece) {
        size_t len = n - off < piece ? n - off : piece;
        feed_all(&f, &r, p + off, len);
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)data[0] % 17 + 1;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    char *in = fuzz_dup_exact(p, n);

    run_t whole = run((const uint8_t *)in, n, n ? n : 1);
    run_t split = run((const uint8_t *)in, n, piece);
    FUZZ_ASSERT(whole.status == split.status);
    FUZZ_ASSERT(whole.requests == split.requests);
    FUZZ_ASSERT(whole.len == split.len && memcmp(whole.out, split.out, whole.len) == 0);

    /* What was forwarded from accepted input re-frames to itself. */
    if (whole.status == 0 && whole.len < OUT_MAX) {
        run_t again = run((const uint8_t *)whole.out, whole.len, whole.len);
        FUZZ_ASSERT(again.status == 0);
        FUZZ_ASSERT(again.requests == whole.requests);
        FUZZ_ASSERT(again.len == whole.len && memcmp(again.out, whole.out, whole.len) == 0);
        free(again.out);
    }
    free(whole.out);
    free(split.out);
    free(in);
    return 0;
}
