//go:build !unix

package main

import "os"

// lockFile on systems without flock only creates the file: running two
// recon up on one data dir is not detected there.
func lockFile(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	return func() { f.Close() }, nil
}
