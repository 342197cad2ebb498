package transformer

import "math"

// table fills cs (len(pos), Dims) with the rotation of every pair at every
// position: cs[r·Dims + 2i] = cos θ_i, cs[r·Dims + 2i + 1] = sin θ_i.
// As ggml's rope cache (spec §6.4): θ_0 = p and θ_{i+1} = θ_i·base^(−2/n_rot)
// by repeated f32 multiplication, each θ divided by its frequency factor
// (nil = 1; Llama 3 rope_freqs, phi3 LongRoPE), then the linear/YaRN
// scaling of rope_yarn.
func (r *Rope) table(cs []float32, pos []int32, factors []float32) {
	thetaScale := pow32(r.Base, -2/float32(r.Dims))
	lo, hi := r.corrDims()
	for row, p := range pos {
		t := cs[row*r.Dims : (row+1)*r.Dims]
		theta := float32(p)
		for i := 0; i < r.Dims/2; i++ {
			ff := float32(1)
			if factors != nil {
				ff = factors[i]
			}
			t[2*i], t[2*i+1] = r.yarn(theta/ff, 2*i, lo, hi)
			theta *= thetaScale
		}
	}
}

// yarn is ggml's rope_yarn: the angle interpolated by FreqScale, blended
// with the extrapolated one over YaRN's ramp when ExtFactor ≠ 0, and cos/sin
// scaled by the attention factor.
func (r *Rope) yarn(thetaExtrap float32, i0 int, lo, hi float32) (cos, sin float32) {
	thetaInterp := r.FreqScale * thetaExtrap
	theta := thetaInterp
	mscale := r.AttnFactor
	if r.ExtFactor != 0 {
		y := (float32(i0/2) - lo) / max(0.001, hi-lo)
		rampMix := (1 - min(1, max(0, y))) * r.ExtFactor
		theta = thetaInterp*(1-rampMix) + thetaExtrap*rampMix
		mscale *= 1 + 0.1*log32(1/r.FreqScale)
	}
	return cos32(theta) * mscale, sin32(theta) * mscale
}

// corrDims returns YaRN's correction range [lo, hi] of pair indices
// (ggml_rope_yarn_corr_dims).
func (r *Rope) corrDims() (lo, hi float32) {
	if r.ExtFactor == 0 {
		return 0, 0
	}
	corr := func(beta float32) float32 {
		return float32(r.Dims) * log32(float32(r.OrigCtx)/(beta*2*math.Pi)) / (2 * log32(r.Base))
	}
	lo = max(0, float32(math.Floor(float64(corr(r.BetaFast)))))
	hi = min(float32(r.Dims-1), float32(math.Ceil(float64(corr(r.BetaSlow)))))
	return lo, hi
}

// apply rotates every head of the n rows of x (n, heads·headDim) in place
// with the rows' tables cs (n, Dims). Dimensions ≥ Dims of each head pass
// through.
func (r *Rope) apply(x, cs []float32, n, headDim int) {
	half := r.Dims / 2
	rowDim := len(x) / n
	for row := range n {
		t := cs[row*r.Dims : (row+1)*r.Dims]
		xr := x[row*rowDim : (row+1)*rowDim]
		for o := 0; o+headDim <= rowDim; o += headDim {
			h := xr[o : o+headDim]
			for i := range half {
				c, s := t[2*i], t[2*i+1]
				a, b := 2*i, 2*i+1 // RopeNorm: adjacent pairs
				if r.Style == RopeNeoX {
					a, b = i, i+half
				}
				x0, x1 := h[a], h[b]
				h[a] = x0*c - x1*s
				h[b] = x0*s + x1*c
			}
		}
	}
}
