package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// The driver's state lives in plain files under one root that every node and the
// controller see (the cluster's state directory, like a SAN every host is wired to):
//
//	ROOT/volumes/<id>/              the volume's data: what NodeStage bind-mounts
//	ROOT/volumes/<id>.json          its record: name, capacity, zone, access mode
//	ROOT/attachments/<id>/<node>    one file per node the volume is attached to (ControllerPublish)
//	ROOT/nodes/<node>.json          a node the driver runs on (written by the node service at start)
//	ROOT/published/<node>/<id>.json the targets a node has published the volume at (NodePublish)
//
// Records are written to a temporary file and renamed, so a reader never sees half a record.

// volumeRecord is what CreateVolume decided, kept beside the data directory.
type volumeRecord struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	CapacityBytes int64  `json:"capacityBytes"`
	Zone          string `json:"zone,omitempty"` // "" = reachable from every node
	AccessMode    string `json:"accessMode"`
}

// attachmentRecord says a volume is attached to a node (ControllerPublish).
type attachmentRecord struct {
	Node     string `json:"node"`
	Readonly bool   `json:"readonly"`
	Mode     string `json:"accessMode"`
}

// nodeRecord is a node the driver serves, with its zone.
type nodeRecord struct {
	ID   string `json:"id"`
	Zone string `json:"zone,omitempty"`
}

// publishRecord lists where a node has published a volume.
type publishRecord struct {
	Targets []string `json:"targets"`
	Mode    string   `json:"accessMode"`
}

type store struct {
	root string
}

var safeID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)

// volumeID is the id of the volume called name: the name itself when it is a safe file name
// (so a PV pvc-<uid> has the directory pvc-<uid>), else a digest of it. Same name, same id:
// CreateVolume is idempotent by name without an index.
func volumeID(name string) string {
	if safeID.MatchString(name) && !strings.HasPrefix(name, "h-") {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return "h-" + hex.EncodeToString(sum[:16])
}

func validID(id string) bool {
	return safeID.MatchString(id)
}

func newStore(root string) (*store, error) {
	if root == "" {
		return nil, errors.New("--root must not be empty")
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("resolving --root %q: %w", root, err)
	}
	if abs == "/" {
		return nil, errors.New("--root must not be /")
	}
	for _, sub := range []string{"volumes", "attachments", "nodes", "published"} {
		if err := os.MkdirAll(filepath.Join(abs, sub), 0o755); err != nil {
			return nil, fmt.Errorf("creating %s under --root: %w", sub, err)
		}
	}
	return &store{root: abs}, nil
}

func (s *store) dataDir(id string) string    { return filepath.Join(s.root, "volumes", id) }
func (s *store) volumeFile(id string) string { return filepath.Join(s.root, "volumes", id+".json") }
func (s *store) attachDir(id string) string  { return filepath.Join(s.root, "attachments", id) }
func (s *store) nodeFile(node string) string { return filepath.Join(s.root, "nodes", node+".json") }
func (s *store) publishFile(node, id string) string {
	return filepath.Join(s.root, "published", node, id+".json")
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// readJSON returns false when the file does not exist.
func readJSON(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("reading %s: %w", path, err)
	}
	return true, nil
}

func (s *store) volume(id string) (*volumeRecord, error) {
	if !validID(id) {
		return nil, nil
	}
	var rec volumeRecord
	found, err := readJSON(s.volumeFile(id), &rec)
	if err != nil || !found {
		return nil, err
	}
	return &rec, nil
}

// createVolume makes the data directory, then the record: a record always has its directory.
func (s *store) createVolume(rec volumeRecord) error {
	if err := os.MkdirAll(s.dataDir(rec.ID), 0o755); err != nil {
		return err
	}
	// MkdirAll's mode is filtered by the umask; the kubelet sets group ownership (fsGroupPolicy File).
	if err := os.Chmod(s.dataDir(rec.ID), 0o755); err != nil {
		return err
	}
	return writeJSON(s.volumeFile(rec.ID), rec)
}

// deleteVolume removes the record first (the volume is gone for every caller), then the data.
func (s *store) deleteVolume(id string) error {
	if err := os.Remove(s.volumeFile(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.RemoveAll(s.attachDir(id)); err != nil {
		return err
	}
	return os.RemoveAll(s.dataDir(id))
}

func (s *store) volumes() ([]volumeRecord, error) {
	matches, err := filepath.Glob(filepath.Join(s.root, "volumes", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(matches)
	out := make([]volumeRecord, 0, len(matches))
	for _, path := range matches {
		var rec volumeRecord
		if found, err := readJSON(path, &rec); err != nil {
			return nil, err
		} else if found {
			out = append(out, rec)
		}
	}
	return out, nil
}

func (s *store) attachments(id string) (map[string]attachmentRecord, error) {
	entries, err := os.ReadDir(s.attachDir(id))
	if errors.Is(err, os.ErrNotExist) {
		return map[string]attachmentRecord{}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make(map[string]attachmentRecord, len(entries))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			continue
		}
		var rec attachmentRecord
		if found, err := readJSON(filepath.Join(s.attachDir(id), e.Name()), &rec); err != nil {
			return nil, err
		} else if found {
			out[e.Name()] = rec
		}
	}
	return out, nil
}

func (s *store) attach(id string, rec attachmentRecord) error {
	return writeJSON(filepath.Join(s.attachDir(id), rec.Node), rec)
}

func (s *store) detach(id, node string) error {
	err := os.Remove(filepath.Join(s.attachDir(id), node))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

func (s *store) node(id string) (*nodeRecord, error) {
	if !validID(id) {
		return nil, nil
	}
	var rec nodeRecord
	found, err := readJSON(s.nodeFile(id), &rec)
	if err != nil || !found {
		return nil, err
	}
	return &rec, nil
}

func (s *store) registerNode(rec nodeRecord) error {
	return writeJSON(s.nodeFile(rec.ID), rec)
}

func (s *store) published(node, id string) (*publishRecord, error) {
	var rec publishRecord
	found, err := readJSON(s.publishFile(node, id), &rec)
	if err != nil || !found {
		return nil, err
	}
	return &rec, nil
}

func (s *store) setPublished(node, id string, rec *publishRecord) error {
	if rec == nil || len(rec.Targets) == 0 {
		err := os.Remove(s.publishFile(node, id))
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	return writeJSON(s.publishFile(node, id), rec)
}
