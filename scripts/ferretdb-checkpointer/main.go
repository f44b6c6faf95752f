// Command ferretdb-checkpointer checkpoints the write-ahead logs of the SQLite databases FerretDB keeps in
// one directory, from outside FerretDB's commit path.
//
// SQLite checkpoints a WAL (copies its pages back into the database file and fsyncs it) in whichever
// commit finds the WAL past wal_autocheckpoint pages, and that commit's insert waits for it: under ingest
// on this project's machine the inserts that carried a checkpoint made most of the slowest ones. Here a
// separate process runs PASSIVE checkpoints, which never block a writer or a reader, a few dozen times a
// second, and FerretDB's own wal_autocheckpoint stays only as a backstop for when this process is not
// running. SQLite supports any number of processes on one WAL database (shared memory and POSIX locks).
//
// A database is touched only when its WAL changed since the last round, and only for the checkpoint: the
// connection is opened without create (mode=rw) and closed again, so a database FerretDB drops is never
// re-created, and this process never holds one open while FerretDB is not using it. But when FerretDB drops
// a database while a checkpoint has it open, FerretDB's close is not the last one and leaves the WAL and
// shared-memory files behind, and the checkpoint's close cannot remove them either (SQLite refuses to
// checkpoint a database whose file is gone). A database created again under that name would read the
// dropped one's WAL, so every round removes such leftovers, found by their missing database file.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite"
)

// walStamp identifies a WAL's content well enough to skip an unchanged one: every commit writes to it.
type walStamp struct {
	size    int64
	modTime time.Time
}

type totals struct {
	rounds, checkpoints, failures int
	// The longest WAL a checkpoint found, in frames (pages): how far it grows between checkpoints.
	longestWAL int
	busy       time.Duration
}

func main() {
	dir := flag.String("dir", "", "FerretDB's SQLite data directory (its --sqlite-url directory)")
	interval := flag.Duration("interval", 20*time.Millisecond, "time between rounds")
	report := flag.Duration("report", time.Minute, "time between summary lines on stderr")
	flag.Parse()
	if *dir == "" {
		log.Fatal("ferretdb-checkpointer: -dir is required")
	}
	log.SetFlags(log.LstdFlags | log.LUTC)

	home, err := os.Stat(*dir)
	if err != nil {
		log.Fatal(err)
	}
	seen := map[string]walStamp{}
	var sum totals
	lastReport := time.Now()
	for {
		// A data directory removed (or removed and made again) means FerretDB is gone: so is this process.
		if now, err := os.Stat(*dir); err != nil || !os.SameFile(home, now) {
			log.Printf("%s is gone; stopping", *dir)
			return
		}
		round(*dir, seen, &sum)
		if time.Since(lastReport) >= *report {
			log.Printf("%d rounds, %d checkpoints (%d failed), longest WAL %d pages, %s checkpointing",
				sum.rounds, sum.checkpoints, sum.failures, sum.longestWAL, sum.busy.Round(time.Millisecond))
			sum, lastReport = totals{}, time.Now()
		}
		time.Sleep(*interval)
	}
}

// round checkpoints every database of dir whose WAL changed since the previous round.
func round(dir string, seen map[string]walStamp, sum *totals) {
	sum.rounds++
	files, err := filepath.Glob(filepath.Join(dir, "*.sqlite"))
	if err != nil {
		return
	}
	present := make(map[string]bool, len(files))
	for _, file := range files {
		present[file] = true
		info, err := os.Stat(file + "-wal")
		if err != nil {
			continue // no WAL: FerretDB has not opened it, or closed it cleanly
		}
		stamp := walStamp{info.Size(), info.ModTime()}
		if seen[file] == stamp {
			continue
		}
		started := time.Now()
		walFrames, err := checkpoint(file)
		sum.busy += time.Since(started)
		sum.checkpoints++
		if err != nil {
			sum.failures++
			continue
		}
		sum.longestWAL = max(sum.longestWAL, walFrames)
		seen[file] = stamp
	}
	for file := range seen {
		if !present[file] {
			delete(seen, file)
		}
	}
	sweep(dir, present)
}

// sweep removes the WAL and shared-memory files of databases whose database file is gone.
func sweep(dir string, present map[string]bool) {
	for _, suffix := range []string{"-wal", "-shm"} {
		leftovers, _ := filepath.Glob(filepath.Join(dir, "*.sqlite"+suffix))
		for _, leftover := range leftovers {
			file := strings.TrimSuffix(leftover, suffix)
			if present[file] {
				continue
			}
			if _, err := os.Stat(file); os.IsNotExist(err) {
				if err := os.Remove(leftover); err == nil {
					log.Printf("removed %s, left behind by a dropped database", filepath.Base(leftover))
				}
			}
		}
	}
}

// checkpoint runs one PASSIVE checkpoint of file and returns the length of its WAL in frames.
func checkpoint(file string) (int, error) {
	db, err := sql.Open("sqlite", "file:"+file+"?mode=rw")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	walFrames, _, err := passiveCheckpoint(db)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", filepath.Base(file), err)
	}
	return walFrames, nil
}

// passiveCheckpoint runs PRAGMA wal_checkpoint(PASSIVE) on db: the WAL's length in frames, and how many of
// them are now copied into the database file.
func passiveCheckpoint(db *sql.DB) (walFrames, copied int, err error) {
	var busy int
	err = db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &walFrames, &copied)
	return walFrames, copied, err
}
