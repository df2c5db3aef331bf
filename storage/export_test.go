package storage

import "github.com/aws/aws-sdk-go-v2/service/s3"

// Test hooks for package storage_test.
var NewS3ClientForTest = newS3Client

// S3ClientOf returns the S3 client under an s3:// bucket, or nil.
func S3ClientOf(b *Bucket) *s3.Client {
	if d, ok := b.drv.(*s3Driver); ok {
		return d.client
	}
	return nil
}

// NewS3BucketForTest returns a Bucket on the s3 driver over client.
func NewS3BucketForTest(client *s3.Client, bucket, prefix string) *Bucket {
	return NewBucket(newS3DriverWithClient(client, bucket, prefix))
}
