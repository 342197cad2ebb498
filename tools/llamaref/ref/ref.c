// ref: logits (and, with DUMPDIR, every f32 graph tensor) from a prebuilt
// llama.cpp, used as a numerical oracle while chasing last-bit differences
// (docs/numerics.md). Not part of the build or the tests.
//
//   ref MODEL.gguf "id id id ..."            -> one line of logits per position
//   MODE=greedy N=24 ref MODEL.gguf "ids"      -> "ids ..." and "margins ..." of N greedy steps
//   MODE=tokenize ref MODEL.gguf < text         -> the token ids (no BOS, no special parsing)
//
// Environment: LIBDIR (the prebuilt libraries), VARIANT (one ggml-cpu .so to
// load instead of the best one), UBATCH (physical batch; < 64 keeps ggml's
// row-by-row flash attention), DUMPDIR (write NAME.bin: 4 int64 ne, then f32
// data). The parameter offsets below were read from the library's own
// defaults (llama_context_default_params) for node-llama-cpp 3.22.1.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <math.h>
typedef int32_t llama_token;
typedef int32_t llama_pos;
typedef int32_t llama_seq_id;
typedef struct { int32_t n_tokens; llama_token *token; float *embd; llama_pos *pos; int32_t *n_seq_id; llama_seq_id **seq_id; int8_t *logits; } llama_batch;
typedef struct { char b[1024]; } big;
extern void ggml_backend_load_all_from_path(const char*); extern void* ggml_backend_load(const char*);
extern void llama_backend_init(void);
extern big llama_model_default_params(void);
extern big llama_context_default_params(void);
extern void* llama_model_load_from_file(const char*, big);
extern void* llama_init_from_model(void*, big);
extern llama_batch llama_batch_init(int32_t, int32_t, int32_t);
extern int32_t llama_decode(void*, llama_batch);
extern float* llama_get_logits_ith(void*, int32_t);
extern void llama_set_n_threads(void*, int32_t, int32_t);
extern const void* llama_model_get_vocab(const void*);
extern int32_t llama_vocab_n_tokens(const void*);
extern int32_t llama_tokenize(const void*, const char*, int32_t, llama_token*, int32_t, _Bool, _Bool);
extern const char* ggml_get_name(const void*);
extern size_t ggml_nbytes(const void*);
extern void ggml_backend_tensor_get(const void*, void*, size_t, size_t);
static int cb(void* t, int ask, void* ud) {
  const char* nm = ggml_get_name(t);
  int type = *(int*)t;
  if (ask) return type == 0; // F32 tensors
  if (!getenv("DUMPDIR")) return 1;
  int64_t* ne = (int64_t*)((char*)t + 16);
  char path[512]; snprintf(path, sizeof path, "%s/%s.bin", getenv("DUMPDIR"), nm);
  FILE* f = fopen(path, "wb");
  size_t nb = ggml_nbytes(t); void* buf = malloc(nb);
  ggml_backend_tensor_get(t, buf, 0, nb);
  fwrite(ne, 8, 4, f); fwrite(buf, 1, nb, f); fclose(f); free(buf);
  return 1;
}
int main(int argc, char** argv) {
  if (getenv("VARIANT")) ggml_backend_load(getenv("VARIANT")); else ggml_backend_load_all_from_path(getenv("LIBDIR"));
  llama_backend_init();
  big mp = llama_model_default_params();
  void* model = llama_model_load_from_file(argv[1], mp);
  if (!model) { fprintf(stderr, "load failed\n"); return 1; }
  big cp = llama_context_default_params();
  { int32_t* f = (int32_t*)cp.b;     if (getenv("UBATCH")) { f[2] = atoi(getenv("UBATCH")); }
    if (getenv("DUMPDIR")) { *(void**)((char*)cp.b + 88) = (void*)cb; } }
  void* ctx = llama_init_from_model(model, cp);
  if (!ctx) { fprintf(stderr, "ctx failed\n"); return 1; }
  llama_set_n_threads(ctx, 2, 2);
  const void* vocab = llama_model_get_vocab(model);
  int nv = llama_vocab_n_tokens(vocab);
  const char* mode = getenv("MODE") ? getenv("MODE") : "logits";
  if (!strcmp(mode, "tokenize")) {
    static char text[1 << 20]; size_t len = fread(text, 1, sizeof text - 1, stdin);
    static llama_token out[1 << 18];
    int n = llama_tokenize(vocab, text, (int32_t)len, out, 1 << 18, 0, 0);
    if (n < 0) { fprintf(stderr, "tokenize failed\n"); return 1; }
    for (int i = 0; i < n; i++) printf("%d%c", out[i], i == n-1 ? '\n' : ' ');
    if (n == 0) printf("\n");
    return 0;
  }
  static int ids[8192]; int n = 0;
  for (char* tok = strtok(argv[2], " "); tok; tok = strtok(NULL, " ")) ids[n++] = atoi(tok);
  llama_batch b = llama_batch_init(n, 0, 1);
  b.n_tokens = n;
  for (int i = 0; i < n; i++) { b.token[i] = ids[i]; b.pos[i] = i; b.n_seq_id[i] = 1; b.seq_id[i][0] = 0; b.logits[i] = 1; }
  if (llama_decode(ctx, b)) { fprintf(stderr, "decode failed\n"); return 1; }
  if (!strcmp(mode, "greedy")) {
    int steps = getenv("N") ? atoi(getenv("N")) : 24;
    int out[4096]; float margin[4096];
    float* l = llama_get_logits_ith(ctx, n - 1);
    llama_batch one = llama_batch_init(1, 0, 1);
    for (int s = 0; s < steps; s++) {
      int best = 0; for (int j = 1; j < nv; j++) if (l[j] > l[best]) best = j;
      float second = -INFINITY; for (int j = 0; j < nv; j++) if (j != best && l[j] > second) second = l[j];
      out[s] = best; margin[s] = l[best] - second;
      if (s == steps - 1) break;
      one.n_tokens = 1; one.token[0] = best; one.pos[0] = n + s; one.n_seq_id[0] = 1; one.seq_id[0][0] = 0; one.logits[0] = 1;
      if (llama_decode(ctx, one)) { fprintf(stderr, "decode failed\n"); return 1; }
      l = llama_get_logits_ith(ctx, 0);
    }
    printf("ids"); for (int s = 0; s < steps; s++) printf(" %d", out[s]); printf("\n");
    printf("margins"); for (int s = 0; s < steps; s++) printf(" %g", margin[s]); printf("\n");
    return 0;
  }
  for (int i = 0; i < n; i++) { float* l = llama_get_logits_ith(ctx, i); for (int j = 0; j < nv; j++) printf("%.9g%c", l[j], j == nv-1 ? '\n' : ' '); }
  return 0;
}
