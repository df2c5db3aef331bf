# Broken on purpose: "*" on "*", a service wildcard, SendMessage on every
# queue, lifecycle completion on every ASG, an inline JSON policy with "*",
# and a queue policy open to anyone.
data "aws_iam_policy_document" "admin" {
  statement {
    actions   = ["*"]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "worker" {
  statement {
    actions   = ["s3:*"]
    resources = ["arn:aws:s3:::bucket/*"]
  }

  statement {
    actions   = ["sqs:SendMessage"]
    resources = ["*"]
  }

  statement {
    actions   = ["autoscaling:CompleteLifecycleAction"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "inline" {
  name = "inline"
  role = "worker"
  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [{ Effect = "Allow", Action = "*", Resource = "arn:aws:sqs:eu-west-1:111122223333:jobs" }]
  })
}

data "aws_iam_policy_document" "queue" {
  statement {
    actions   = ["sqs:SendMessage"]
    resources = ["arn:aws:sqs:eu-west-1:111122223333:jobs"]
    principals {
      type        = "AWS"
      identifiers = ["*"]
    }
  }
}
