package storage

// Test hooks for package storage_test.
var NewS3ClientForTest = newS3Client
