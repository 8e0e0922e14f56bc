package main

import (
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func TestHealthFunctionServesTheRegionsSignInConfig(t *testing.T) {
	// GIVEN the whole app WHEN each platform stack is synthesized
	for _, p := range platformApp(t).Platforms {
		tpl := assertions.Template_FromStack(p.Stack, nil)
		pools := tpl.FindResources(jsii.String("AWS::Cognito::UserPool"), nil)
		clients := tpl.FindResources(jsii.String("AWS::Cognito::UserPoolClient"), nil)
		if len(*pools) != 1 || len(*clients) != 1 {
			t.Fatalf("%s: %d pools, %d clients, want the region's one pool and its web client", *p.StackName(), len(*pools), len(*clients))
		}
		var poolID, clientID string
		for id := range *pools {
			poolID = id
		}
		for id := range *clients {
			clientID = id
		}
		// THEN the health function gets this region's pool and web client (references, no cross-stack value)
		tpl.HasResourceProperties(jsii.String("AWS::Lambda::Function"), map[string]interface{}{
			"Description": assertions.Match_StringLikeRegexp(jsii.String("GET /auth/config")),
			"Environment": map[string]interface{}{"Variables": assertions.Match_ObjectLike(&map[string]interface{}{
				"CARO_REGION":              *p.Region(),
				"CARO_USER_POOL_ID":        map[string]interface{}{"Ref": poolID},
				"CARO_USER_POOL_CLIENT_ID": map[string]interface{}{"Ref": clientID},
			})},
		})
		// AND the API has the public route
		tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Resource"), map[string]interface{}{"PathPart": "config"})
		tpl.HasResourceProperties(jsii.String("AWS::ApiGateway::Method"), map[string]interface{}{
			"HttpMethod": "GET", "AuthorizationType": "NONE",
			"ResourceId": map[string]interface{}{"Ref": assertions.Match_StringLikeRegexp(jsii.String("authconfig"))},
		})
	}
}
