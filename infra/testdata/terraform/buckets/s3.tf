# Broken on purpose: "open" has no public access block, no encryption and
# no ownership controls; "leaky" does not restrict public buckets.
resource "aws_s3_bucket" "open" {
  bucket = "open"
}

resource "aws_s3_bucket" "leaky" {
  bucket = "leaky"
}

resource "aws_s3_bucket_public_access_block" "leaky" {
  bucket                  = aws_s3_bucket.leaky.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = false
}

resource "aws_s3_bucket_server_side_encryption_configuration" "leaky" {
  bucket = aws_s3_bucket.leaky.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "leaky" {
  bucket = aws_s3_bucket.leaky.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}
