# cmp.py MODEL VARIANT: worst relative L2 error of the prebuilt llama.cpp's
# logits against the fixture's, for the 17/64/200-token prompts.
import json, sys, math, subprocess, os
fx = os.environ.get('PENSIEVE_FIXTURES', '../../../shared/fixtures')
lib = os.environ['LIBDIR']
name = sys.argv[1]; variant = sys.argv[2]
rows=[json.loads(l) for l in open(fx + '/reference/logits/%s.jsonl'%name)]
for r in rows:
    if len(r['ids']) not in (17, 64, 200): continue
    env = dict(os.environ, VARIANT=lib + '/libggml-cpu-%s.so'%variant)
    out = subprocess.run(['./ref', fx + '/models/%s.gguf'%name, ' '.join(map(str, r['ids']))], env=env, capture_output=True, text=True).stdout.strip().split('\n')
    errs=[]
    for p, want in enumerate(r['logits']):
        got = list(map(float, out[p].split()))
        num = sum((a-b)**2 for a,b in zip(got,want)); den = sum(b*b for b in want)
        errs.append(math.sqrt(num/den))
    print(name, variant, len(r['ids']), 'worst %.4f'%max(errs), 'positions over 0.02:', sum(e > 0.02 for e in errs))
