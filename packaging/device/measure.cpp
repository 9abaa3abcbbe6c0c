// Load a model with llama.cpp, then for each case create a context, run one prompt batch and one
// token through it, and free it, printing time-stamped markers so that GPU memory samples taken by
// another process can be attributed to each case. llama.cpp's own log (buffer sizes) goes to stderr.
//
//   measure MODEL N_GPU_LAYERS CTX:K:V:FA [CTX:K:V:FA ...]      e.g. 8192:q8_0:q8_0:1
//
// Markers on stdout:  MARK <event> <case> <epoch-ms> [<extra>]
#include "llama.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

static long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

static void mark(const char * event, int c, const char * extra = "") {
    printf("MARK %s %d %lld %s\n", event, c, now_ms(), extra);
    fflush(stdout);
}

static ggml_type cache_type(const std::string & name) {
    if (name == "f16") return GGML_TYPE_F16;
    if (name == "q8_0") return GGML_TYPE_Q8_0;
    if (name == "q4_0") return GGML_TYPE_Q4_0;
    if (name == "f32") return GGML_TYPE_F32;
    fprintf(stderr, "unknown cache type %s\n", name.c_str());
    exit(2);
}

static void pause_ms(int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

int main(int argc, char ** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s MODEL N_GPU_LAYERS CTX:K:V:FA...\n", argv[0]);
        return 2;
    }
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = atoi(argv[2]);
    mark("model_load_start", -1);
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) {
        mark("model_failed", -1);
        return 3;
    }
    mark("model_loaded", -1);
    pause_ms(1500);  // a steady sample of weights + CUDA context before any context exists
    mark("model_steady", -1);
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    const int n_prompt = 512;
    for (int c = 0; c + 3 < argc; ++c) {
        char k[16] = {0}, v[16] = {0};
        int ctx_len = 0, fa = 0;
        if (sscanf(argv[c + 3], "%d:%15[^:]:%15[^:]:%d", &ctx_len, k, v, &fa) != 4) {
            fprintf(stderr, "bad case %s\n", argv[c + 3]);
            return 2;
        }
        fprintf(stderr, "\n@@case %d %s\n", c, argv[c + 3]);
        mark("case_start", c, argv[c + 3]);
        llama_context_params cp = llama_context_default_params();
        cp.n_ctx = ctx_len;
        cp.n_batch = 2048;
        cp.n_ubatch = 512;
        cp.n_seq_max = 1;
        cp.type_k = cache_type(k);
        cp.type_v = cache_type(v);
        cp.flash_attn_type = fa ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
        llama_context * ctx = llama_init_from_model(model, cp);
        if (!ctx) {
            mark("case_failed", c);
            continue;
        }
        mark("ctx_created", c);
        pause_ms(700);
        llama_batch batch = llama_batch_init(n_prompt, 0, 1);
        for (int i = 0; i < n_prompt; ++i) {
            batch.token[i] = (i * 7919) % n_vocab;
            batch.pos[i] = i;
            batch.n_seq_id[i] = 1;
            batch.seq_id[i][0] = 0;
            batch.logits[i] = i == n_prompt - 1;
        }
        batch.n_tokens = n_prompt;
        int rc = llama_decode(ctx, batch);
        llama_synchronize(ctx);
        // then generation: single tokens, the path most time is spent in
        for (int t = 0; rc == 0 && t < 8; ++t) {
            batch.n_tokens = 1;
            batch.token[0] = (t * 31) % n_vocab;
            batch.pos[0] = n_prompt + t;
            batch.logits[0] = 1;
            rc = llama_decode(ctx, batch);
        }
        llama_synchronize(ctx);
        mark("decoded", c, rc == 0 ? "ok" : "decode_failed");
        pause_ms(900);  // let the samplers see the steady state after compute
        mark("case_end", c);
        llama_batch_free(batch);
        llama_free(ctx);
        pause_ms(600);
        mark("ctx_freed", c);
    }
    llama_model_free(model);
    llama_backend_free();
    mark("done", -1);
    return 0;
}
