package inbox

import (
	"os"
	"strings"
)

// stableSizes remembers the size each file had at the last scan. A file is
// taken only once a scan finds the size the previous scan saw: it has
// stopped growing for one tick, so a writer still copying it in is not
// raced.
type stableSizes map[string]int64

// stable reports whether key had this size at the previous scan. If not,
// it records the size, and the file waits one more tick.
func (s stableSizes) stable(key string, size int64) bool {
	if prev, ok := s[key]; ok && prev == size {
		return true
	}
	s[key] = size
	return false
}

// listFiles returns the plain files of dir whose names do not start with
// '.' (a careful uploader writes under a dot name and renames), with their
// sizes. Entries gone between the listing and the stat are left out.
func listFiles(dir string) ([]os.FileInfo, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []os.FileInfo
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, info)
	}
	return out, nil
}
