"""Per-attribute matching accuracy of a ViLT folder on the validation split (diagnostic)."""
import sys
import numpy as np
import torch
import gen_data as G
import train as T
from transformers import ViltForImageAndTextRetrieval
torch.set_num_threads(1)
m = ViltForImageAndTextRetrieval.from_pretrained(sys.argv[1], dtype=torch.float32).eval()
texts, kw = T.Texts(), T.vilt_proc_kwargs()
va = torch.load('cache/vilt_val_matching_600.pt', weights_only=False)
data = G.matching('val', 600)
px = T.normalise(va['pixels'], kw['image_mean'], kw['image_std'])
with torch.no_grad():
    sp = torch.cat([T.vilt_scores(m, px[i:i+200], *texts.batch(va['true'][i:i+200])) for i in range(0, 600, 200)])
    sn = torch.cat([T.vilt_scores(m, px[i:i+200], *texts.batch(va['false'][i:i+200])) for i in range(0, 600, 200)])
ok = (sp > sn).numpy()
print(sys.argv[1], 'all', ok.mean(), {at: round(float(ok[np.array([d[4] == at for d in data])].mean()), 3) for at in G.ATTRS})
