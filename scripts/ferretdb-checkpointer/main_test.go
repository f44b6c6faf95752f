package main

import (
	"database/sql"
	"os"
	"path/filepath"
	"testing"
)

// open plays FerretDB: a WAL database with automatic checkpoints off, so only the checkpointer copies pages.
func open(t *testing.T, file string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=journal_mode(wal)&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec("CREATE TABLE IF NOT EXISTS events (doc TEXT NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	return db
}

func insert(t *testing.T, db *sql.DB, rows int) {
	t.Helper()
	for i := 0; i < rows; i++ {
		if _, err := db.Exec("INSERT INTO events (doc) VALUES (printf('%.500c', 'x'))"); err != nil {
			t.Fatal(err)
		}
	}
}

// backfilled is how many WAL frames are already copied into the database file.
func backfilled(t *testing.T, db *sql.DB) (logFrames, copied int) {
	t.Helper()
	// A PASSIVE checkpoint of an already checkpointed WAL copies nothing more and reports both counts.
	logFrames, copied, err := passiveCheckpoint(db)
	if err != nil {
		t.Fatal(err)
	}
	return logFrames, copied
}

func TestRoundCheckpointsChangedWALsWhileTheWriterKeepsItsConnection(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "otaguard.sqlite")
	db := open(t, file)
	insert(t, db, 200)

	seen := map[string]walStamp{}
	var sum totals
	round(dir, seen, &sum)
	if sum.checkpoints != 1 || sum.longestWAL == 0 || sum.failures != 0 {
		t.Fatalf("first round: %+v, want one checkpoint of a non-empty WAL", sum)
	}
	if logFrames, copied := backfilled(t, db); logFrames == 0 || copied != logFrames {
		t.Fatalf("after the round %d of %d WAL frames are copied, want all", copied, logFrames)
	}

	round(dir, seen, &sum)
	if sum.checkpoints != 1 {
		t.Fatalf("an unchanged WAL was checkpointed again: %+v", sum)
	}
	insert(t, db, 10)
	round(dir, seen, &sum)
	if sum.checkpoints != 2 {
		t.Fatalf("a changed WAL was not checkpointed: %+v", sum)
	}
}

func TestRoundNeverCreatesADroppedDatabase(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "dropped.sqlite")
	db := open(t, file)
	insert(t, db, 50)
	// FerretDB drops a database by closing it and removing the file; a WAL can outlive that for a moment.
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if _, err := checkpoint(file); err == nil {
		t.Fatal("checkpoint of a removed database succeeded, so it opened (created) one")
	}
	db.Close()
	var sum totals
	round(dir, map[string]walStamp{}, &sum)
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Fatalf("the dropped database exists again: %v", err)
	}
	if sum.checkpoints != 0 {
		t.Fatalf("checkpointed a dropped database: %+v", sum)
	}
}

func TestRoundRemovesWhatADroppedDatabaseLeftBehind(t *testing.T) {
	dir := t.TempDir()
	kept := filepath.Join(dir, "live.sqlite")
	open(t, kept)
	dropped := filepath.Join(dir, "dropped.sqlite")
	for _, leftover := range []string{dropped + "-wal", dropped + "-shm"} {
		if err := os.WriteFile(leftover, []byte("frames of a dropped database"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var sum totals
	round(dir, map[string]walStamp{}, &sum)
	for _, leftover := range []string{dropped + "-wal", dropped + "-shm"} {
		if _, err := os.Stat(leftover); !os.IsNotExist(err) {
			t.Errorf("%s is still there: %v", filepath.Base(leftover), err)
		}
	}
	for _, live := range []string{kept, kept + "-wal", kept + "-shm"} {
		if _, err := os.Stat(live); err != nil {
			t.Errorf("a live database lost %s: %v", filepath.Base(live), err)
		}
	}
}
