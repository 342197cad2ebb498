package safetensors

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/pensieve-llm/pensieve/core"
)

// Names of the files of a Hugging Face checkpoint directory.
const (
	SingleFile = "model.safetensors"
	IndexFile  = "model.safetensors.index.json"
)

// maxIndexSize bounds the index JSON read into memory; real indexes are a
// few hundred kilobytes.
const maxIndexSize = 64 << 20

// Checkpoint is a model's tensors spread over one or more SafeTensors files
// (shards). It is read-only after opening and safe for concurrent use;
// views are invalid after Close.
type Checkpoint struct {
	Files     []*File        // the shards, in the order of their first appearance in the index
	Metadata  map[string]any // the index's "metadata" object (nil for a single file)
	TotalSize int64          // metadata.total_size when present, else the sum of tensor sizes

	where map[string]*File // tensor name → its shard
	names []string         // all tensor names, sorted
}

// OpenCheckpoint opens path, which is a SafeTensors file, an index JSON
// (model.safetensors.index.json) or a directory holding either.
func OpenCheckpoint(path string) (*Checkpoint, error) {
	const op = "safetensors.OpenCheckpoint"
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, core.E(core.KindNotFound, op, err)
		}
		return nil, core.E(core.KindInvalid, op, err)
	}
	if fi.IsDir() {
		idx := filepath.Join(path, IndexFile)
		if _, err := os.Stat(idx); err == nil {
			return OpenIndex(idx)
		}
		single := filepath.Join(path, SingleFile)
		if _, err := os.Stat(single); err != nil {
			return nil, core.Errorf(core.KindNotFound, op, "%s holds neither %s nor %s", path, IndexFile, SingleFile)
		}
		path = single
	}
	if strings.HasSuffix(path, ".json") {
		return OpenIndex(path)
	}
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Files: []*File{f}, where: map[string]*File{}}
	for _, ti := range f.Tensors {
		c.where[ti.Name] = f
		c.TotalSize += ti.Size()
	}
	c.sortNames()
	return c, nil
}

// index is model.safetensors.index.json (spec §5.1).
type index struct {
	Metadata  map[string]any    `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// OpenIndex opens a sharded checkpoint from its index JSON. Shards are
// looked up next to the index and must be plain file names. Every tensor of
// the weight map must be in the shard it names, and every tensor of every
// shard must be listed there; a mismatch fails with core.KindInvalid.
func OpenIndex(path string) (*Checkpoint, error) {
	const op = "safetensors.OpenIndex"
	idx, err := readIndex(path)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{Metadata: idx.Metadata, where: map[string]*File{}}
	// Open shards in a stable order: by the sorted names of their tensors.
	names := make([]string, 0, len(idx.WeightMap))
	for n := range idx.WeightMap {
		names = append(names, n)
	}
	sort.Strings(names)
	shards := map[string]*File{}
	fail := func(err error) (*Checkpoint, error) {
		c.Close()
		return nil, err
	}
	for _, name := range names {
		shard := idx.WeightMap[name]
		f, ok := shards[shard]
		if !ok {
			if shard == "" || filepath.Base(shard) != shard || shard == "." || shard == ".." {
				return fail(core.Errorf(core.KindInvalid, op, "%s: tensor %q names shard %q, which is not a plain file name", path, name, shard))
			}
			if f, err = Open(filepath.Join(filepath.Dir(path), shard)); err != nil {
				return fail(err)
			}
			shards[shard] = f
			c.Files = append(c.Files, f)
		}
		if _, ok := f.TensorInfo(name); !ok {
			return fail(core.Errorf(core.KindInvalid, op, "%s: tensor %q is not in shard %s", path, name, shard))
		}
		c.where[name] = f
	}
	for shard, f := range shards {
		for _, ti := range f.Tensors {
			if c.where[ti.Name] != f {
				return fail(core.Errorf(core.KindInvalid, op, "%s: tensor %q of shard %s is not listed in the index", path, ti.Name, shard))
			}
			c.TotalSize += ti.Size()
		}
	}
	if ts, ok := idx.Metadata["total_size"].(json.Number); ok {
		if v, err := ts.Int64(); err == nil && v >= 0 {
			c.TotalSize = v
		}
	}
	c.sortNames()
	return c, nil
}

func readIndex(path string) (*index, error) {
	const op = "safetensors.OpenIndex"
	fh, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, core.E(core.KindNotFound, op, err)
		}
		return nil, core.E(core.KindInvalid, op, err)
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, core.E(core.KindInternal, op, err)
	}
	if fi.Size() > maxIndexSize {
		return nil, core.Errorf(core.KindTooLarge, op, "%s: index of %d bytes exceeds %d", path, fi.Size(), maxIndexSize)
	}
	dec := json.NewDecoder(fh)
	dec.UseNumber()
	var idx index
	if err := dec.Decode(&idx); err != nil {
		return nil, core.Errorf(core.KindInvalid, op, "%s: %w", path, err)
	}
	if len(idx.WeightMap) == 0 {
		return nil, core.Errorf(core.KindInvalid, op, "%s: empty or missing weight_map", path)
	}
	return &idx, nil
}

func (c *Checkpoint) sortNames() {
	c.names = make([]string, 0, len(c.where))
	for n := range c.where {
		c.names = append(c.names, n)
	}
	sort.Strings(c.names)
}

// Names returns every tensor name, sorted. The slice is shared; do not
// modify it.
func (c *Checkpoint) Names() []string { return c.names }

// TensorInfo returns the named tensor's info and the shard holding it.
func (c *Checkpoint) TensorInfo(name string) (TensorInfo, *File, bool) {
	f, ok := c.where[name]
	if !ok {
		return TensorInfo{}, nil, false
	}
	ti, _ := f.TensorInfo(name)
	return ti, f, true
}

// Tensor returns the named tensor as File.Tensor does.
func (c *Checkpoint) Tensor(name string) (*core.Tensor, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, core.Errorf(core.KindNotFound, "safetensors.Tensor", "no tensor %q", name)
	}
	return f.Tensor(name)
}

// Close closes every shard and returns the first error.
func (c *Checkpoint) Close() error {
	var first error
	for _, f := range c.Files {
		if err := f.Close(); err != nil && first == nil {
			first = fmt.Errorf("close shard: %w", err)
		}
	}
	return first
}
